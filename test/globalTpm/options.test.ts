// Each option of globalTpm reaches the budget: every test here fails when its option is ignored for the default.
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { createTokenBudget, TokenBudgetConfigError, type BudgetHttpError, type GlobalTpmOptions } from '../../lib';
import { optionApp, promptOf, spendingClient, switchableStore } from '../helpers/options';

const features = { chat: { maxInput: 1000, maxOutput: 100, model: 'gpt-4o' } };

/** POST /chat and POST /other, each with its own globalTpm options, on one budget. */
function twoRoutes(chat: GlobalTpmOptions, other: GlobalTpmOptions, budget: Parameters<typeof optionApp>[0] = {}) {
  const client = spendingClient();
  const { app, budget: b } = optionApp({ features, ...budget }, (tb) => [
    tb.featureBudget('chat'),
    tb.globalTpm(chat),
    tb.llmHandler({ client }),
  ]);
  app.post('/other', b.featureBudget('chat'), b.globalTpm(other), b.llmHandler({ client }));
  app.use(b.errorHandler());
  return { app, client };
}

test('limit: tokens past it within the minute are refused with 429 global_rate_limited', async () => {
  const { app } = twoRoutes({ limit: 300 }, { limit: 300 });
  await request(app).post('/chat').send(promptOf(100)).expect(200);
  const res = await request(app).post('/chat').send(promptOf(100));
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ type: 'global_rate_limited', scope: 'global', limit: 300 });
});

test("headers: true shows the limit as the RateLimit headers' global item; by default they show nothing of it", async () => {
  const { app } = twoRoutes({ limit: 300, headers: true }, { limit: 300 });
  const shown = await request(app).post('/chat').send(promptOf(100));
  expect(shown.headers['ratelimit-policy']).toBe('"global";q=300;w=60');
  expect(shown.headers.ratelimit).toMatch(/^"global";r=100;t=\d+$/);
  const hidden = await request(app).post('/other').send(promptOf(10));
  expect(hidden.status).toBe(200);
  expect(hidden.headers['ratelimit-policy']).toBeUndefined();
  expect(hidden.headers.ratelimit).toBeUndefined();
});

test('name: routes of one name share the limit; another name keeps its own', async () => {
  const shared = twoRoutes({ limit: 250 }, { limit: 250 });
  await request(shared.app).post('/chat').send(promptOf(100)).expect(200);
  expect((await request(shared.app).post('/other').send(promptOf(100))).status).toBe(429);
  const apart = twoRoutes({ limit: 250 }, { limit: 250, name: 'batch' });
  await request(apart.app).post('/chat').send(promptOf(100)).expect(200);
  await request(apart.app).post('/other').send(promptOf(100)).expect(200);
  expect(apart.client.calls.map((c) => c.params.max_tokens)).toEqual([100, 100]);
});

test("mode: 'shadow' serves past the limit under an enforcing budget; 'enforce' refuses under a shadow one", async () => {
  const watched = twoRoutes({ limit: 300, mode: 'shadow' }, { limit: 300, name: 'enforced' });
  await request(watched.app).post('/chat').send(promptOf(100)).expect(200);
  await request(watched.app).post('/chat').send(promptOf(100)).expect(200);
  await request(watched.app).post('/other').send(promptOf(100)).expect(200);
  expect((await request(watched.app).post('/other').send(promptOf(100))).status).toBe(429);
  const enforced = twoRoutes(
    { limit: 300, mode: 'enforce' },
    { limit: 300, name: 'watched' },
    { mode: 'shadow', onShadow: () => {} },
  );
  await request(enforced.app).post('/chat').send(promptOf(100)).expect(200);
  expect((await request(enforced.app).post('/chat').send(promptOf(100))).status).toBe(429);
  await request(enforced.app).post('/other').send(promptOf(100)).expect(200);
  await request(enforced.app).post('/other').send(promptOf(100)).expect(200);
});

describe("onStoreUnavailable overrides the budget's while the store is down", () => {
  const down = (policy: GlobalTpmOptions['onStoreUnavailable'], budget: 'fail-open' | 'fail-closed') => {
    const store = switchableStore();
    store.down = true;
    const { app } = twoRoutes(
      { limit: 10_000, onStoreUnavailable: policy },
      { limit: 10_000 },
      { store, onStoreUnavailable: budget },
    );
    return request(app).post('/chat').send(promptOf(10));
  };

  test("'fail-open' under a fail-closed budget: served", async () => {
    expect((await down('fail-open', 'fail-closed')).status).toBe(200);
  });

  test("'fail-closed' under a fail-open budget: 503 budget_unavailable", async () => {
    const res = await down('fail-closed', 'fail-open');
    expect([res.status, res.body.error.type]).toEqual([503, 'budget_unavailable']);
  });
});

test('errors and onReject of globalTpm answer what it refuses (here: no featureBudget before it)', async () => {
  const own = (err: BudgetHttpError, _req: Request, res: Response) => void res.status(err.status).json({ own: err.type });
  const mine = (err: BudgetHttpError, _req: Request, res: Response, _next: NextFunction) =>
    void res.status(299).json({ mine: err.type });
  const shaped = optionApp({ features }, (b) => [b.globalTpm({ limit: 100, onReject: own })]);
  const res = await request(shaped.app).post('/chat').send(promptOf(10));
  expect([res.status, res.body]).toEqual([500, { own: 'internal_error' }]);
  const passed = optionApp({ features }, (b) => [b.globalTpm({ limit: 100, errors: 'next' })], mine);
  const next = await request(passed.app).post('/chat').send(promptOf(10));
  expect([next.status, next.body]).toEqual([299, { mine: 'internal_error' }]);
});

describe('configuration mistakes', () => {
  const globalTpm = (options: unknown) => () => createTokenBudget({ features }).globalTpm(options as GlobalTpmOptions);

  test.each([
    [{ limit: 100, headers: 'yes' }, 'TB_INVALID_OPTION', 'globalTpm.headers must be true or false; got "yes".'],
    [
      { limit: 100, name: 'a:b' },
      'TB_INVALID_OPTION',
      `globalTpm.name must be 1–64 characters of letters, digits, '_', '.' or '-'; got "a:b".`,
    ],
    [undefined, 'TB_INVALID_LIMIT', 'globalTpm.limit must be a positive integer; got undefined.'],
    [
      { limit: 100, onStoreUnavailable: 'retry' },
      'TB_INVALID_OPTION',
      'globalTpm.onStoreUnavailable must be one of fail-closed, fail-open, fallback; got "retry".',
    ],
  ] as const)('%j is refused', (options, code, message) => {
    expect(globalTpm(options)).toThrow(new TokenBudgetConfigError(code, message));
  });
});
