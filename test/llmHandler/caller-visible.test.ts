// llmHandler as a caller sees it: option and route errors, the chunks and events a stream passes on, and a client that hung up.
import type { Request, Response } from 'express';
import request from 'supertest';
import type { BudgetWarning, LlmHandlerOptions, TokenBudgetOptions } from '../../lib';
import { completionOf, hangUpDuring, optionApp, promptOf, scriptedClient, type ScriptedCall } from '../helpers/options';
import { until } from '../helpers/until';

const chatBody = promptOf(20);

/** An app whose POST /chat runs featureBudget('chat') then llmHandler, recording the budget's warnings. */
function handlerApp(options: Omit<LlmHandlerOptions, 'client'>, client: LlmHandlerOptions['client'] = scriptedClient()) {
  const warnings: BudgetWarning[] = [];
  const { app, budget } = optionApp({ onWarning: (warning) => warnings.push(warning) }, (b) => [
    b.featureBudget('chat'),
    b.llmHandler({ client, ...options }),
  ]);
  return { app, budget, warnings };
}

/** The events of a server-sent event stream, each as its `event:` name (undefined for `data:` alone) and its data. */
function eventsOf(text: string): { event: string | undefined; data: string }[] {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      return { event, data: /^data: (.*)$/m.exec(block)![1]! };
    });
}

/** A client whose every call, on either API, streams `chunks` and then throws `failure` when one is given. */
function streamingClient(chunks: Record<string, unknown>[], failure?: Error) {
  async function* stream() {
    for (const chunk of chunks) yield chunk;
    if (failure) throw failure;
  }
  const create = () => Promise.resolve(stream());
  return { chat: { completions: { create } }, responses: { create } };
}

describe('options that are not what llmHandler takes are refused, naming the option', () => {
  const { budget } = optionApp({}, (b) => [b.featureBudget('chat')]);
  const client = scriptedClient();

  test.each([
    ['no options', undefined],
    ['no client', {}],
    ['a client without chat', { client: {} }],
    ['a client without chat.completions', { client: { chat: {} } }],
    ['a client without chat.completions.create', { client: { chat: { completions: {} } } }],
  ])('%s: TB_INVALID_OPTION, asking for an OpenAI client', (_name, options) => {
    expect(() => budget.llmHandler(options as never)).toThrow(
      expect.objectContaining({
        code: 'TB_INVALID_OPTION',
        message: 'llmHandler needs { client }, an OpenAI client (e.g. new OpenAI()). [TB_INVALID_OPTION]',
      }),
    );
  });

  test.each([
    [{ respond: 'text' }, 'llmHandler.respond must be a function.'],
    [{ timeoutMs: 0 }, 'llmHandler.timeoutMs must be a positive integer; got 0.'],
    [{ onClientGone: 'stop' }, "llmHandler.onClientGone must be 'finish' or 'abort'; got \"stop\"."],
    [{ stream: 'yes' }, "llmHandler.stream must be 'allow' or 'forbid'; got \"yes\"."],
    [{ api: 'completions' }, "llmHandler.api must be 'chat' or 'responses'; got \"completions\"."],
    [{ errors: 'throw' }, "llmHandler.errors must be 'respond' or 'next'; got \"throw\"."],
    [{ onReject: 'json' }, 'llmHandler.onReject must be a function.'],
    [{ api: 'responses' }, "llmHandler({ api: 'responses' }) needs a client with responses.create (openai 5 or later)."],
  ])('%j: %s', (options, message) => {
    expect(() => budget.llmHandler({ client, ...options } as never)).toThrow(
      expect.objectContaining({ message: expect.stringContaining(message) }),
    );
  });
});

describe('a route llmHandler cannot serve is a 500, and the warning says why', () => {
  test('llmHandler without featureBudget before it', async () => {
    const warnings: BudgetWarning[] = [];
    const { app } = optionApp({ onWarning: (warning) => warnings.push(warning) }, (b) => [
      b.llmHandler({ client: scriptedClient() }),
    ]);
    const res = await request(app).post('/chat').send(chatBody);
    expect([res.status, res.body.error.type]).toEqual([500, 'internal_error']);
    expect(warnings.map((warning) => [warning.code, warning.message])).toEqual([
      [
        'TB_NO_FEATURE_BUDGET',
        "llmHandler ran without budget.featureBudget(name) earlier in the route's chain; mount featureBudget first.",
      ],
    ]);
  });

  test('a Responses body on a route whose client has no responses.create: nothing is called', async () => {
    const client = scriptedClient();
    const { app, warnings } = handlerApp({}, client);
    const res = await request(app).post('/chat').send({ input: 'Hi' });
    expect([res.status, res.body.error.type]).toEqual([500, 'internal_error']);
    expect(warnings.map((warning) => [warning.code, warning.message])).toEqual([
      [
        'TB_NO_RESPONSES_API',
        "llmHandler received a Responses API request (input) but its client has no responses.create; use openai 5 or later, or set api: 'chat'.",
      ],
    ]);
    expect(client.calls).toHaveLength(0);
  });

  test("stream: 'forbid' tells the client why its streamed body was refused", async () => {
    const res = await request(handlerApp({ stream: 'forbid' }).app)
      .post('/chat')
      .send({ ...chatBody, stream: true });
    expect([res.status, res.body.error.message]).toEqual([400, 'Streaming ("stream": true) is not supported on this route.']);
  });
});

test('llmHandler ends the chain: a handler after it never runs', async () => {
  let after = 0;
  const { app } = optionApp({}, (b) => [
    b.featureBudget('chat'),
    b.llmHandler({ client: scriptedClient() }),
    (_req, res) => {
      after++;
      res.status(299).end();
    },
  ]);
  const res = await request(app).post('/chat').send(chatBody);
  expect(res.status).toBe(200);
  expect(after).toBe(0);
});

test("an error thrown before any call is made reaches the app's error handler as it is, not as an upstream failure", async () => {
  const seen: unknown[] = [];
  const { app } = optionApp(
    {},
    (b) => [
      b.featureBudget('chat'),
      // A custom step that took the reservation itself: llmHandler's own then cannot be taken (an app's bug).
      (req, _res, next) => void req.tokenBudget!.reserve().then(() => next()),
      b.llmHandler({ client: scriptedClient() }),
    ],
    (err: unknown, _req: Request, res: Response, _next: unknown) => {
      seen.push(err);
      res.status(500).json({ app: 'error' });
    },
  );
  const res = await request(app).post('/chat').send(chatBody);
  expect([res.status, res.body]).toEqual([500, { app: 'error' }]);
  expect(seen).toEqual([expect.objectContaining({ message: 'token-budget: reserve() called in state reserved' })]);
});

describe('a chat stream passes on every chunk but the usage chunk the client did not ask for', () => {
  const text = { choices: [{ index: 0, delta: { content: 'ok' } }] };
  const usage = { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 };

  test('a chunk with choices carries usage too (a server that reports it on its last chunk): passed on', async () => {
    const chunks = [text, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage }];
    const res = await request(handlerApp({}, streamingClient(chunks)).app)
      .post('/chat')
      .send({ ...chatBody, stream: true });
    expect(eventsOf(res.text).map(({ data }) => data)).toEqual([...chunks.map((chunk) => JSON.stringify(chunk)), '[DONE]']);
  });

  test('a chunk without choices and a null usage (a filter chunk): passed on; the usage chunk is not', async () => {
    const filter = { choices: [], usage: null, prompt_filter_results: [] };
    const chunks = [filter, text, { choices: [], usage }];
    const res = await request(handlerApp({}, streamingClient(chunks)).app)
      .post('/chat')
      .send({ ...chatBody, stream: true });
    expect(eventsOf(res.text).map(({ data }) => data)).toEqual([JSON.stringify(filter), JSON.stringify(text), '[DONE]']);
  });

  test('a stream that throws midway ends with an error event in our words for what was thrown', async () => {
    const res = await request(handlerApp({}, streamingClient([text], new Error('socket hang up'))).app)
      .post('/chat')
      .send({ ...chatBody, stream: true });
    expect(eventsOf(res.text)).toEqual([
      { event: undefined, data: JSON.stringify(text) },
      {
        event: 'error',
        data: JSON.stringify({
          error: { type: 'upstream_error', message: 'The model provider sent an answer that could not be read.' },
        }),
      },
    ]);
  });
});

describe('a Responses stream that reports a failure ends with an error event, and nothing after the failure is passed on', () => {
  const created = { type: 'response.created', response: { id: 'resp_1' } };
  const delta = { type: 'response.output_text.delta', delta: 'ok' };
  const later = { type: 'response.output_text.delta', delta: 'late' };
  const failedStreaming = JSON.stringify({
    error: { type: 'upstream_error', message: 'The model provider failed while streaming the answer.' },
  });

  test.each([
    ['error', { type: 'error', message: 'the upstream says: overloaded' }],
    ['response.failed', { type: 'response.failed', response: { error: { message: 'the upstream says: overloaded' } } }],
  ])('%s', async (_type, failure) => {
    const client = streamingClient([created, delta, failure, later]);
    const res = await request(handlerApp({ api: 'responses' }, client).app)
      .post('/chat')
      .send({ ...chatBody, stream: true });
    expect(eventsOf(res.text)).toEqual([
      { event: 'response.created', data: JSON.stringify(created) },
      { event: 'response.output_text.delta', data: JSON.stringify(delta) },
      { event: 'error', data: failedStreaming },
    ]);
  });
});

describe('a client that hung up mid-call is answered nothing', () => {
  /** A client that tells when it was called and answers when told to, or fails once its call is aborted. */
  function heldClient() {
    let started!: () => void;
    const called = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const client = scriptedClient(({ params, options }: ScriptedCall) => {
      started();
      return new Promise((resolve, reject) => {
        finish = () => resolve(completionOf(params));
        options.signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    });
    return { client, called, finish: () => finish() };
  }

  /** An app over `client` that records each settled call. */
  function settlingApp(
    options: Omit<LlmHandlerOptions, 'client'>,
    client: LlmHandlerOptions['client'],
    budget: Partial<TokenBudgetOptions>,
  ) {
    const settled: unknown[] = [];
    const { app } = optionApp({ onWarning: () => {}, ...budget }, (b) => [
      b.featureBudget('chat'),
      (req, _res, next) => {
        req.tokenBudget!.afterSettle((call) => settled.push(call));
        next();
      },
      b.llmHandler({ client, ...options }),
    ]);
    return { app, settled };
  }

  test("with 'finish', the answer that comes after is settled, and respond is not asked to shape it", async () => {
    const held = heldClient();
    let responded = 0;
    const { app, settled } = settlingApp({ respond: (completion) => (responded++, completion) }, held.client, {});
    await hangUpDuring(app, chatBody, held.called);
    held.finish();
    await until(() => settled.length === 1);
    // llmHandler goes on in the same turn as the settlement: one more turn of the event loop has seen it through.
    await new Promise((resolve) => setImmediate(resolve));
    expect(responded).toBe(0);
  });

  test("with 'abort', the stopped call is charged, and onReject is not told of a refusal nobody would receive", async () => {
    const held = heldClient();
    let rejected = 0;
    const { app, settled } = settlingApp(
      {
        onClientGone: 'abort',
        onReject: (err, _req, res) => {
          rejected++;
          res.status(err.status).end();
        },
      },
      held.client,
      {},
    );
    await hangUpDuring(app, chatBody, held.called);
    await until(() => settled.length === 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(rejected).toBe(0);
  });
});
