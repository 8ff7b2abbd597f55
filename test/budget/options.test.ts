// Each option of createTokenBudget reaches what it configures: every test here fails when its option is ignored for the default.
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { BudgetRefusal, countChatTokens, StoreUnavailableError } from '../../lib';
import type { BudgetHttpError, BudgetWarning } from '../../lib';
import {
  aborted,
  completionOf,
  FEATURES,
  hangUpDuring,
  optionApp,
  scriptedClient,
  switchableStore,
  userOf,
  type ScriptedCall,
} from '../helpers/options';

const chatBody = { messages: [{ role: 'user' as const, content: 'Hello there' }] };

test('store: the budgets count in the given store', async () => {
  const store = switchableStore();
  const { app } = optionApp({ store }, (b) => [
    b.featureBudget('chat'),
    b.userQuota({ user: (req) => userOf(req)?.id, limits: 1000 }),
    b.llmHandler({ client: scriptedClient() }),
  ]);
  await request(app).post('/chat').set('x-user', 'ann').send(chatBody).expect(200);
  expect(store.reserves.map((r) => r.scopes.map((s) => s.kind))).toEqual([['user']]);
});

describe('onStoreUnavailable: what every scope without its own policy does while the store is down', () => {
  const downApp = (policy: 'fail-closed' | 'fail-open') => {
    const store = switchableStore();
    store.down = true;
    const client = scriptedClient();
    const features = { chat: { ...FEATURES.chat!, dailyTokens: 100_000 } };
    const { app } = optionApp({ store, features, onStoreUnavailable: policy }, (b) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => userOf(req)?.id, limits: 1000 }),
      b.globalTpm({ limit: 100_000 }),
      b.llmHandler({ client }),
    ]);
    return { app, client };
  };

  test("'fail-closed': 503 budget_unavailable, the model never called", async () => {
    const { app, client } = downApp('fail-closed');
    const res = await request(app).post('/chat').set('x-user', 'ann').send(chatBody);
    expect(res.status).toBe(503);
    expect(res.body.error.type).toBe('budget_unavailable');
    expect(client.calls).toHaveLength(0);
  });

  test("'fail-open': served, uncounted", async () => {
    const { app, client } = downApp('fail-open');
    await request(app).post('/chat').set('x-user', 'ann').send(chatBody).expect(200);
    expect(client.calls).toHaveLength(1);
  });
});

test('onStoreError hears of the outage, and console.warn does not', async () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    const errors: Error[] = [];
    const store = switchableStore();
    store.down = true;
    const { app } = optionApp({ store, onStoreUnavailable: 'fail-open', onStoreError: (err) => errors.push(err) }, (b) => [
      b.featureBudget('chat'),
      b.globalTpm({ limit: 100_000 }),
      b.llmHandler({ client: scriptedClient() }),
    ]);
    await request(app).post('/chat').send(chatBody).expect(200);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
    expect(warn).not.toHaveBeenCalled();
  } finally {
    warn.mockRestore();
  }
});

test('onStoreError hears of a flag channel that cannot be read, and console.warn does not', async () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    const errors: Error[] = [];
    const unreadable = new StoreUnavailableError('flags down for the test');
    const store = Object.assign(switchableStore(), {
      flagChannel: () => ({
        readAll: () => Promise.reject(unreadable),
        write: () => Promise.reject(unreadable),
        listen: () => Promise.reject(unreadable),
      }),
    });
    const { app, budget } = optionApp({ store, onStoreError: (err) => errors.push(err) }, (b) => [
      b.featureFlag('chat', { onUnknown: 'fail-open' }),
      b.featureBudget('chat'),
      b.llmHandler({ client: scriptedClient() }),
    ]);
    // Flags never read, failing open: the flag's default (on).
    await request(app).post('/chat').send(chatBody).expect(200);
    await budget.flags.close();
    expect(errors).toEqual([unreadable]);
    expect(warn).not.toHaveBeenCalled();
  } finally {
    warn.mockRestore();
  }
});

test('unknownModelEncoding counts a model no family matches with that encoding', async () => {
  const messages = [{ role: 'user' as const, content: '你好世界'.repeat(20) }];
  const byEncoding = {
    o200k_base: countChatTokens(messages, { model: 'gpt-4o' }),
    cl100k_base: countChatTokens(messages, { model: 'gpt-4' }),
  };
  expect(byEncoding.o200k_base).not.toBe(byEncoding.cl100k_base);
  for (const encoding of ['o200k_base', 'cl100k_base'] as const) {
    const { app } = optionApp(
      { features: { chat: { model: 'acme-llm-1', maxInput: 1000, maxOutput: 100 } }, unknownModelEncoding: encoding },
      (b) => [b.featureBudget('chat'), (req, res) => void res.json({ input: req.tokenBudget!.inputTokens })],
    );
    expect((await request(app).post('/chat').send({ messages })).body).toEqual({ input: byEncoding[encoding] });
  }
});

test('maxMessages: one message more is a 400 invalid_request', async () => {
  const { app } = optionApp({ maxMessages: 3 }, (b) => [b.featureBudget('chat'), b.llmHandler({ client: scriptedClient() })]);
  const messages = (n: number) => Array.from({ length: n }, (_, i) => ({ role: 'user', content: `message ${i}` }));
  await request(app)
    .post('/chat')
    .send({ messages: messages(3) })
    .expect(200);
  const res = await request(app)
    .post('/chat')
    .send({ messages: messages(4) });
  expect(res.status).toBe(400);
  expect(res.body.error.type).toBe('invalid_request');
});

test('onWarning receives each warning once per code, and console.warn nothing', async () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    const warnings: BudgetWarning[] = [];
    const { app } = optionApp({ onWarning: (w) => warnings.push(w) }, (b) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => userOf(req)?.id, limits: 1000 }),
      (_req, res) => void res.json({ served: 'without reserving' }),
    ]);
    await request(app).post('/chat').set('x-user', 'ann').send(chatBody).expect(200);
    await request(app).post('/chat').set('x-user', 'ann').send(chatBody).expect(200);
    expect(warnings.map((w) => w.code)).toEqual(['TB_NOT_RESERVED']);
    expect(warn).not.toHaveBeenCalled();
  } finally {
    warn.mockRestore();
  }
});

describe('callTimeoutMs and leaseMarginMs', () => {
  const hang = ({ options }: ScriptedCall) => aborted(options.signal).then(() => Promise.reject(new Error('aborted')));

  test('callTimeoutMs is the time-out handed to the call; past it the call is stopped and answered 504', async () => {
    const client = scriptedClient(hang);
    const { app } = optionApp({ callTimeoutMs: 300 }, (b) => [b.featureBudget('chat'), b.llmHandler({ client })]);
    const res = await request(app).post('/chat').send(chatBody);
    expect(client.calls[0]!.options.timeout).toBe(300);
    expect(client.calls[0]!.options.signal.aborted).toBe(true);
    expect(res.status).toBe(504);
    expect(res.body.error.type).toBe('upstream_timeout');
  }, 10_000);

  test('a reservation is leased for the time-out plus leaseMarginMs', async () => {
    const store = switchableStore();
    const { app } = optionApp({ store, callTimeoutMs: 20_000, leaseMarginMs: 1_234 }, (b) => [
      b.featureBudget('chat'),
      b.globalTpm({ limit: 100_000 }),
      b.llmHandler({ client: scriptedClient() }),
    ]);
    await request(app).post('/chat').send(chatBody).expect(200);
    expect(store.reserves.map((r) => r.leaseMs)).toEqual([21_234]);
  });
});

describe('onClientGone', () => {
  /** Hangs up while the model is answering; says whether the call was stopped, then lets it finish. */
  async function hangUp(options: { onClientGone?: 'abort' | 'finish' }): Promise<boolean> {
    let started!: () => void;
    const called = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const client = scriptedClient(({ params, options: call }) => {
      started();
      return new Promise((resolve, reject) => {
        finish = () => resolve(completionOf(params));
        call.signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    });
    const { app } = optionApp(options, (b) => [b.featureBudget('chat'), b.llmHandler({ client })]);
    await hangUpDuring(app, chatBody, called);
    const stopped = client.calls[0]!.options.signal.aborted;
    finish();
    return stopped;
  }

  test("'abort' stops the call when the client hangs up", async () => {
    expect(await hangUp({ onClientGone: 'abort' })).toBe(true);
  });

  test("by default ('finish') the call goes on", async () => {
    expect(await hangUp({})).toBe(false);
  });
});

describe('onMissingUsage', () => {
  /** What a reply without usage ("ok", 1 output token) costs the user, with a 1000-token cap sent upstream. */
  async function chargedFor(options: { onMissingUsage?: 'charge' | 'count-reply' }): Promise<number> {
    const client = scriptedClient(async ({ params }) => ({ ...completionOf(params), usage: undefined }));
    const { app, budget } = optionApp(options, (b) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => userOf(req)?.id, limits: 100_000 }),
      b.llmHandler({ client }),
    ]);
    await request(app).post('/chat').set('x-user', 'ann').send(chatBody).expect(200);
    const input = countChatTokens(chatBody.messages, { model: 'gpt-4o' });
    return (await budget.usage.user('ann')).used - input;
  }

  test("by default ('charge') the whole reservation is charged", async () => {
    expect(await chargedFor({})).toBe(1000);
  });

  test("'count-reply' charges the reply's counted output", async () => {
    expect(await chargedFor({ onMissingUsage: 'count-reply' })).toBe(1);
  });
});

describe('errors and onReject of the budget', () => {
  const tooLarge = { messages: [{ role: 'user', content: 'word '.repeat(1200) }] };

  test("errors: 'next' hands every middleware's refusal to the app's error handler", async () => {
    const seen: unknown[] = [];
    const mine = (err: BudgetHttpError, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(err);
      res.status(299).json({ mine: err.type });
    };
    const { app } = optionApp(
      { errors: 'next' },
      (b) => [b.featureBudget('chat'), b.userQuota({ user: (req) => userOf(req)?.id, limits: 1000 })],
      mine,
    );
    const res = await request(app).post('/chat').send(tooLarge);
    expect(res.status).toBe(299);
    expect(res.body).toEqual({ mine: 'input_too_large' });
    expect((await request(app).post('/chat').send(chatBody)).body).toEqual({ mine: 'user_required' });
    expect(seen[0]).toBeInstanceOf(BudgetRefusal);
  });

  test('onReject shapes the refusals of every middleware, and errorHandler() answers through it', async () => {
    const onReject = (err: BudgetHttpError, _req: Request, res: Response) =>
      void res.status(err.status).json({ shaped: err.type });
    const { app } = optionApp({ onReject }, (b) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => userOf(req)?.id, limits: 1000 }),
      // A custom handler whose run() refusal is thrown on to errorHandler().
      async (req, res, next) => {
        try {
          res.json(await req.tokenBudget!.run(() => Promise.reject(new BudgetRefusal('feature_disabled', 'Off for the test.'))));
        } catch (err) {
          next(err);
        }
      },
    ]);
    expect((await request(app).post('/chat').set('x-user', 'ann').send(tooLarge)).body).toEqual({ shaped: 'input_too_large' });
    expect((await request(app).post('/chat').send(chatBody)).body).toEqual({ shaped: 'user_required' });
    const thrown = await request(app).post('/chat').set('x-user', 'ann').send(chatBody);
    expect(thrown.status).toBe(503);
    expect(thrown.body).toEqual({ shaped: 'feature_disabled' });
  });
});
