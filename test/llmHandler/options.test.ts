// Each option of llmHandler reaches the call: every test here fails when its option is ignored for the default.
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import type { BudgetHttpError, LlmHandlerOptions, TokenBudgetOptions } from '../../lib';
import {
  aborted,
  completionOf,
  hangUpDuring,
  optionApp,
  promptOf,
  scriptedClient,
  switchableStore,
  userOf,
  type ScriptedCall,
} from '../helpers/options';

const chatBody = promptOf(20);

function handlerApp(
  options: Omit<LlmHandlerOptions, 'client'>,
  client = scriptedClient(),
  budget: Partial<TokenBudgetOptions> = {},
) {
  const { app } = optionApp(budget, (b) => [b.featureBudget('chat'), b.llmHandler({ client, ...options })]);
  return { app, client };
}

test('client: the call goes to the given client, with the computed parameters', async () => {
  const { app, client } = handlerApp({});
  const res = await request(app).post('/chat').send(chatBody);
  expect(res.status).toBe(200);
  expect(res.body).toEqual(completionOf({ model: 'gpt-4o' }));
  expect(client.calls.map((c) => [c.params.model, c.params.max_tokens, c.options.maxRetries])).toEqual([['gpt-4o', 1000, 0]]);
});

test('respond turns the completion into the response body', async () => {
  const { app } = handlerApp({
    respond: (completion, req) => ({
      text: (completion as { choices: { message: { content: string } }[] }).choices[0]!.message.content,
      path: req.path,
    }),
  });
  expect((await request(app).post('/chat').send(chatBody)).body).toEqual({ text: 'ok', path: '/chat' });
});

describe('timeoutMs', () => {
  const hang = ({ options }: ScriptedCall) => aborted(options.signal).then(() => Promise.reject(new Error('aborted')));

  test("is the call's time-out, over the budget's callTimeoutMs: past it, 504 upstream_timeout", async () => {
    const { app, client } = handlerApp({ timeoutMs: 250 }, scriptedClient(hang), { callTimeoutMs: 600_000 });
    const res = await request(app).post('/chat').send(chatBody);
    expect(client.calls[0]!.options.timeout).toBe(250);
    expect([res.status, res.body.error.type]).toEqual([504, 'upstream_timeout']);
  }, 10_000);

  test('sizes the lease of the reservation', async () => {
    const store = switchableStore();
    const { app } = optionApp({ store, leaseMarginMs: 1_000 }, (b) => [
      b.featureBudget('chat'),
      b.globalTpm({ limit: 100_000 }),
      b.llmHandler({ client: scriptedClient(), timeoutMs: 5_000 }),
    ]);
    await request(app).post('/chat').send(chatBody).expect(200);
    expect(store.reserves.map((r) => r.leaseMs)).toEqual([6_000]);
  });
});

describe("onClientGone overrides the budget's", () => {
  async function stoppedOnHangUp(
    handler: LlmHandlerOptions['onClientGone'],
    budget: TokenBudgetOptions['onClientGone'],
  ): Promise<boolean> {
    let started!: () => void;
    const called = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const client = scriptedClient(({ params, options }) => {
      started();
      return new Promise((resolve, reject) => {
        finish = () => resolve(completionOf(params));
        options.signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    });
    const { app } = handlerApp({ onClientGone: handler }, client, { onClientGone: budget });
    await hangUpDuring(app, chatBody, called);
    const stopped = client.calls[0]!.options.signal.aborted;
    finish();
    return stopped;
  }

  test("'abort' under a budget that finishes: the call is stopped when the client hangs up", async () => {
    expect(await stoppedOnHangUp('abort', 'finish')).toBe(true);
  });

  test("'finish' under a budget that aborts: the call goes on", async () => {
    expect(await stoppedOnHangUp('finish', 'abort')).toBe(false);
  });
});

describe("errors and onReject answer what the reservation refuses, over the budget's", () => {
  const refusedApp = (
    options: Omit<LlmHandlerOptions, 'client'>,
    budget: Partial<TokenBudgetOptions>,
    handler?: Parameters<typeof optionApp>[2],
  ) =>
    optionApp(
      budget,
      (b) => [
        b.featureBudget('chat'),
        b.userQuota({ user: (req) => userOf(req)?.id, limits: 10 }),
        b.llmHandler({ client: scriptedClient(), ...options }),
      ],
      handler,
    ).app;

  test('onReject', async () => {
    const own = (err: BudgetHttpError, _req: Request, res: Response) => void res.status(err.status).json({ own: err.type });
    const theBudget = (err: BudgetHttpError, _req: Request, res: Response) =>
      void res.status(err.status).json({ budget: err.type });
    const res = await request(refusedApp({ onReject: own }, { onReject: theBudget }))
      .post('/chat')
      .set('x-user', 'ann')
      .send(chatBody);
    expect([res.status, res.body]).toEqual([429, { own: 'user_quota_exceeded' }]);
  });

  test("errors: 'next' and 'respond'", async () => {
    const mine = (err: BudgetHttpError, _req: Request, res: Response, _next: NextFunction) =>
      void res.status(299).json({ mine: err.type });
    const next = await request(refusedApp({ errors: 'next' }, {}, mine))
      .post('/chat')
      .set('x-user', 'ann')
      .send(chatBody);
    expect([next.status, next.body]).toEqual([299, { mine: 'user_quota_exceeded' }]);
    const respond = await request(refusedApp({ errors: 'respond' }, { errors: 'next' }, mine))
      .post('/chat')
      .set('x-user', 'ann')
      .send(chatBody);
    expect([respond.status, respond.body.error.type]).toEqual([429, 'user_quota_exceeded']);
  });
});

describe('api', () => {
  /** A client with both APIs, recording which one each call went to. */
  function twoApiClient() {
    const chat = scriptedClient();
    const responses: ScriptedCall[] = [];
    const client = {
      ...chat,
      responses: {
        create(params: Record<string, unknown>, options: ScriptedCall['options']) {
          responses.push({ params, options });
          return Promise.resolve({ object: 'response', output: [], usage: { input_tokens: 10, output_tokens: 5 } });
        },
      },
    };
    return { client, chatCalls: chat.calls, responses };
  }

  test("'responses': the call goes to responses.create with input and max_output_tokens, even from a chat body", async () => {
    const { client, chatCalls, responses } = twoApiClient();
    const { app } = handlerApp({ api: 'responses' }, client);
    expect((await request(app).post('/chat').send(chatBody)).body.object).toBe('response');
    expect(chatCalls).toHaveLength(0);
    expect(responses.map((c) => [c.params.input, c.params.max_output_tokens])).toEqual([[chatBody.messages, 1000]]);
  });

  test("default: the body's format decides; 'chat' sends a Responses body to chat completions", async () => {
    const { client, chatCalls, responses } = twoApiClient();
    await request(handlerApp({}, client).app).post('/chat').send({ input: 'Hi' });
    expect([chatCalls.length, responses.length]).toEqual([0, 1]);
    await request(handlerApp({ api: 'chat' }, client).app)
      .post('/chat')
      .send({ input: 'Hi', temperature: 0.5, reasoning: { effort: 'low' } });
    // `reasoning` is a Responses parameter: chat completions would refuse it.
    expect(chatCalls.map((c) => [c.params.messages, c.params.max_tokens, c.params.temperature, c.params.reasoning])).toEqual([
      [[{ role: 'user', content: 'Hi' }], 1000, 0.5, undefined],
    ]);
  });

  test("a wrong value, or 'responses' with a client without responses.create, is TB_INVALID_OPTION", () => {
    const { budget } = optionApp({}, (b) => [b.featureBudget('chat')]);
    expect(() => budget.llmHandler({ client: scriptedClient(), api: 'assistants' as never })).toThrow(
      expect.objectContaining({ code: 'TB_INVALID_OPTION' }),
    );
    expect(() => budget.llmHandler({ client: scriptedClient(), api: 'responses' })).toThrow(
      expect.objectContaining({ code: 'TB_INVALID_OPTION' }),
    );
  });
});
