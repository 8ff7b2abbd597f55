// Each option of userQuota and quota reaches the budget: every test here fails when its option is ignored for the default.
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import type { BudgetHttpError, QuotaLimitOptions, UserQuotaOptions } from '../../lib';
import { optionApp, promptOf, spendingClient, switchableStore, userOf, type SwitchableStore } from '../helpers/options';

const limits = { free: 300, pro: 1000 };

function userApp(options: Partial<UserQuotaOptions> = {}, store?: SwitchableStore, budget: Parameters<typeof optionApp>[0] = {}) {
  const client = spendingClient();
  const { app, budget: b } = optionApp({ store, ...budget }, (tb) => [
    tb.featureBudget('chat'),
    tb.userQuota({ user: (req) => userOf(req)?.id, tier: (req) => userOf(req)?.plan, limits, ...options }),
    tb.llmHandler({ client }),
  ]);
  const chat = (user: string | undefined, tokens: number, plan?: string) => {
    let req = request(app).post('/chat');
    if (user !== undefined) req = req.set('x-user', user);
    if (plan !== undefined) req = req.set('x-plan', plan);
    return req.send(promptOf(tokens));
  };
  return { app, budget: b, client, chat, caps: () => client.calls.map((c) => c.params.max_tokens) };
}

/** The next start of a period, read just before and after `send`, so that a boundary passed meanwhile cannot fail the test. */
async function around<T>(next: () => Date, send: () => Promise<T>): Promise<{ result: T; expected: string[] }> {
  const before = next().toISOString();
  const result = await send();
  return { result, expected: [before, next().toISOString()] };
}

describe('userQuota', () => {
  test('user: each id has its own counter', async () => {
    const { chat, budget } = userApp();
    await chat('ann', 100).expect(200);
    await chat('bob', 100).expect(200);
    expect(await budget.usage.user('ann')).toMatchObject({ used: 300, remaining: 0 });
    expect(await budget.usage.user('bob')).toMatchObject({ used: 300, remaining: 0 });
    expect(await budget.usage.user('cy')).toMatchObject({ used: 0, remaining: 300 });
  });

  test('tier picks the limit of the user’s plan', async () => {
    const { chat, caps } = userApp();
    await chat('ann', 100, 'pro').expect(200);
    await chat('bob', 100, 'free').expect(200);
    expect(caps()).toEqual([900, 200]);
  });

  test('defaultTier serves a user with no tier or an unknown one; without it, the smallest limit', async () => {
    const configured = userApp({ defaultTier: 'pro' });
    const res = await configured.chat('ann', 100);
    expect(res.headers['ratelimit-policy']).toBe('"user";q=1000;w=86400');
    await configured.chat('bob', 100, 'platinum').expect(200);
    expect(configured.caps()).toEqual([900, 900]);
    const smallest = userApp();
    await smallest.chat('ann', 100).expect(200);
    expect(smallest.caps()).toEqual([200]);
  });

  test('limits as one number holds for everyone', async () => {
    const { chat, caps } = userApp({ limits: 500, tier: undefined });
    await chat('ann', 100, 'pro').expect(200);
    expect(caps()).toEqual([400]);
  });

  test('anonymous: { tier } serves requests with no user from one shared budget of that tier', async () => {
    const { chat, caps } = userApp({ anonymous: { tier: 'free' } });
    await chat(undefined, 100).expect(200);
    expect(caps()).toEqual([200]);
    const res = await chat(undefined, 10);
    expect(res.status).toBe(429);
    expect(res.body.error).toMatchObject({ type: 'user_quota_exceeded', limit: 300, remaining: 0 });
  });

  test("period 'hour' counts per clock hour: its reset, its window in the headers", async () => {
    const nextHour = () => {
      const d = new Date();
      d.setUTCMinutes(60, 0, 0);
      return d;
    };
    const { chat, budget } = userApp({ period: 'hour' });
    const { result: res, expected } = await around(nextHour, () => chat('ann', 100));
    expect(res.headers['ratelimit-policy']).toBe('"user";q=300;w=3600');
    expect(expected).toContain((await budget.usage.user('ann')).resetAt);
  });

  test("period 'month' resets on the 1st", async () => {
    const nextMonth = () => {
      const d = new Date();
      return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
    };
    const { chat, budget } = userApp({ period: 'month' });
    const { expected } = await around(nextMonth, () => chat('ann', 100));
    expect(expected).toContain((await budget.usage.user('ann')).resetAt);
  });

  test("period 'week' resets on Monday", async () => {
    const nextMonday = () => {
      const d = new Date();
      const days = (8 - d.getUTCDay()) % 7 || 7;
      return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + days));
    };
    const { chat, budget } = userApp({ period: 'week' });
    const { expected } = await around(nextMonday, () => chat('ann', 100));
    expect(expected).toContain((await budget.usage.user('ann')).resetAt);
  });

  test('timeZone moves the reset to local midnight (Tokyo: 15:00 UTC)', async () => {
    const nextTokyoMidnight = () => {
      const d = new Date();
      d.setUTCHours(15, 0, 0, 0);
      if (d.getTime() <= Date.now()) d.setUTCDate(d.getUTCDate() + 1);
      return d;
    };
    const { chat } = userApp({ timeZone: 'Asia/Tokyo' });
    await chat('ann', 100).expect(200);
    const { result: res, expected } = await around(nextTokyoMidnight, () => chat('ann', 10));
    expect(res.status).toBe(429);
    expect(expected).toContain(res.body.error.reset_at);
  });

  describe("onStoreUnavailable overrides the budget's policy while the store is down", () => {
    test("'fail-open' under a fail-closed budget: served", async () => {
      const store = switchableStore();
      const { chat } = userApp({ onStoreUnavailable: 'fail-open' }, store, { onStoreUnavailable: 'fail-closed' });
      store.down = true;
      await chat('ann', 10).expect(200);
    });

    test("'fail-closed' under a fail-open budget: 503 budget_unavailable", async () => {
      const store = switchableStore();
      const { chat } = userApp({ onStoreUnavailable: 'fail-closed' }, store, { onStoreUnavailable: 'fail-open' });
      store.down = true;
      const res = await chat('ann', 10);
      expect(res.status).toBe(503);
      expect(res.body.error.type).toBe('budget_unavailable');
    });

    test("'fallback' counts in memory from what the store last said, with the same limit", async () => {
      const store = switchableStore();
      const { chat } = userApp({ onStoreUnavailable: 'fallback', limits: 1000, tier: undefined }, store, {
        onStoreUnavailable: 'fail-open',
      });
      await chat('ann', 100).expect(200); // 100 + 900: all used, as the store says
      store.down = true;
      const res = await chat('ann', 10);
      expect(res.status).toBe(429);
      expect(res.body.error.type).toBe('user_quota_exceeded');
    });
  });

  describe('errors and onReject of one quota win over the budget’s (for what the quota itself refuses)', () => {
    const anonymous = (
      options: Partial<QuotaLimitOptions>,
      budget: Parameters<typeof optionApp>[0],
      handler?: Parameters<typeof optionApp>[2],
    ) => {
      const { app } = optionApp(
        budget,
        (b) => [
          b.featureBudget('chat'),
          b.userQuota({ user: (req) => userOf(req)?.id, limits: 100, ...options }),
          b.llmHandler({ client: spendingClient() }),
        ],
        handler,
      );
      return request(app).post('/chat').send(promptOf(20));
    };

    test('onReject', async () => {
      const own = (err: BudgetHttpError, _req: Request, res: Response) => void res.status(err.status).json({ own: err.type });
      const budgets = (err: BudgetHttpError, _req: Request, res: Response) =>
        void res.status(err.status).json({ budget: err.type });
      const res = await anonymous({ onReject: own }, { onReject: budgets });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ own: 'user_required' });
    });

    test("errors: 'next'", async () => {
      const mine = (err: BudgetHttpError, _req: Request, res: Response, _next: NextFunction) =>
        void res.status(299).json({ mine: err.type });
      const res = await anonymous({ errors: 'next' }, {}, mine);
      expect(res.status).toBe(299);
      expect(res.body).toEqual({ mine: 'user_required' });
      const respond = await anonymous({ errors: 'respond' }, { errors: 'next' }, mine);
      expect(respond.status).toBe(401);
      expect(respond.body.error.type).toBe('user_required');
    });
  });
});

describe('quota', () => {
  function teamApp(options: { name?: string; limits?: QuotaLimitOptions['limits'] } = {}) {
    const client = spendingClient();
    const { app, budget } = optionApp({}, (b) => [
      b.featureBudget('chat'),
      b.quota({ name: options.name ?? 'team', key: (req) => userOf(req)?.team, limits: options.limits ?? 500 }),
      b.llmHandler({ client }),
    ]);
    const chat = (user: string, team: string | undefined, tokens: number) => {
      const req = request(app).post('/chat').set('x-user', user);
      return (team === undefined ? req : req.set('x-team', team)).send(promptOf(tokens));
    };
    return { app, budget, chat, caps: () => client.calls.map((c) => c.params.max_tokens) };
  }

  test('name names the budget in its headers, errors and usage', async () => {
    const { chat, budget } = teamApp({ name: 'org' });
    const ok = await chat('ann', 'acme', 100);
    expect(ok.headers['ratelimit-policy']).toBe('"org";q=500;w=86400');
    const refused = await chat('bob', 'acme', 10);
    expect(refused.body.error).toMatchObject({ type: 'quota_exceeded', scope: 'org', limit: 500 });
    expect(await budget.usage.quota('org', 'acme')).toMatchObject({ used: 500 });
  });

  test('each name is its own key space: a team and an org with the same id never share a counter', async () => {
    const { app, budget, chat } = teamApp({ name: 'team' });
    app.post(
      '/org',
      budget.featureBudget('chat'),
      budget.quota({ name: 'org', key: (req) => userOf(req)?.team, limits: 500 }),
      budget.llmHandler({ client: spendingClient() }),
    );
    app.use(budget.errorHandler());
    await chat('ann', 'acme', 100).expect(200);
    expect(await budget.usage.quota('team', 'acme')).toMatchObject({ used: 500 });
    expect(await budget.usage.quota('org', 'acme')).toMatchObject({ used: 0 });
    await request(app).post('/org').set('x-user', 'ann').set('x-team', 'acme').send(promptOf(100)).expect(200);
  });

  test('key: the members of one team share its counter; another team has its own', async () => {
    const { chat, caps } = teamApp();
    await chat('ann', 'acme', 100).expect(200);
    await chat('bob', 'acme', 10).expect(429);
    await chat('bob', 'globex', 100).expect(200);
    expect(caps()).toEqual([400, 400]);
  });
});

describe('usageHandler', () => {
  test("answers with Cache-Control: no-store, and reports the quota named by 'quota'", async () => {
    const client = spendingClient();
    const { app, budget } = optionApp({}, (b) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => userOf(req)?.id, limits: 1000 }),
      b.quota({ name: 'team', key: (req) => userOf(req)?.team, limits: 5000 }),
      b.llmHandler({ client }),
    ]);
    app.get('/usage/me', budget.usageHandler());
    app.get('/usage/team', budget.usageHandler({ quota: 'team' }));
    await request(app).post('/chat').set('x-user', 'ann').set('x-team', 'acme').send(promptOf(100)).expect(200);
    const me = await request(app).get('/usage/me').set('x-user', 'ann').set('x-team', 'acme');
    expect(me.headers['cache-control']).toBe('no-store');
    expect(me.body).toMatchObject({ used: 1000, limit: 1000, remaining: 0 });
    const team = await request(app).get('/usage/team').set('x-user', 'ann').set('x-team', 'acme');
    expect(team.headers['cache-control']).toBe('no-store');
    expect(team.body).toMatchObject({ used: 1000, limit: 5000, remaining: 4000 });
  });

  test('a store that cannot be read: 503 budget_unavailable, retry in a second', async () => {
    const store = switchableStore();
    // Under 'fallback' usage would be read from the process's own counters: only a fail-closed quota reaches the store.
    const { app, budget } = userApp({ onStoreUnavailable: 'fail-closed' }, store);
    app.get('/usage/me', budget.usageHandler());
    store.down = true;
    const down = await request(app).get('/usage/me').set('x-user', 'ann');
    expect([down.status, down.headers['retry-after'], down.body]).toEqual([
      503,
      '1',
      { error: { type: 'budget_unavailable', message: 'Usage cannot be read right now; retry shortly.' } },
    ]);
  });

  test('answers the request itself: a handler after it on the same route never runs', async () => {
    const { app, budget } = userApp();
    let reached = 0;
    app.get('/usage/me', budget.usageHandler(), (_req, res) => {
      reached++;
      res.status(299).end();
    });
    const res = await request(app).get('/usage/me').set('x-user', 'ann');
    expect([res.status, res.body]).toEqual([200, expect.objectContaining({ used: 0, limit: 300, remaining: 300 })]);
    expect(reached).toBe(0);
  });

  test("an error of the store's own that is not an outage is not told as one: no 503 budget_unavailable", async () => {
    const store = switchableStore();
    const { app, budget } = userApp({ onStoreUnavailable: 'fail-closed' }, store);
    app.get('/usage/me', budget.usageHandler());
    store.usage = () => Promise.reject(new RangeError('a bug in the store'));
    const res = await request(app).get('/usage/me').set('x-user', 'ann');
    expect(res.status).toBe(500);
    expect(res.headers['retry-after']).toBeUndefined();
  });

  test('usage.user(id, tier) reads at that tier; the default is the defaultTier', async () => {
    const { budget } = userApp({ defaultTier: 'free' });
    expect(await budget.usage.user('ann', 'pro')).toMatchObject({ limit: 1000 });
    expect(await budget.usage.user('ann')).toMatchObject({ limit: 300 });
  });
});
