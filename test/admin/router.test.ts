// budget.adminRouter(): refused to anyone authorize() does not let in; spend, top principals, quotas, flags and alerts as requests made them.
import { createClient, type RedisClientType } from 'redis';
import request from 'supertest';
import { redisStore } from '../../lib';
import type { FlagAudit, SpendAlert, TokenBudgetOptions } from '../../lib';
import { type TestApp, startTestApp, words } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis';

/** gpt-4o's published price, USD per token. */
const GPT_4O = { input: 2.5e-6, output: 10e-6 };
const userOf = (req: unknown) => (req as { user?: { id: string } }).user?.id;

interface AdminApp extends TestApp {
  audits: FlagAudit[];
  alerts: SpendAlert[];
}

/** POST /chat behind a flag, a user quota and a cost meter; /admin lets in requests with `x-admin: yes`. */
async function adminApp(budget: Partial<TokenBudgetOptions> = {}, challenge?: string): Promise<AdminApp> {
  const audits: FlagAudit[] = [];
  const alerts: SpendAlert[] = [];
  const app = await startTestApp({
    users: true,
    budget,
    chain: (b, client) => [
      b.featureFlag('chat'),
      b.featureBudget('chat'),
      b.userQuota({ user: userOf, limits: 100_000 }),
      b.costMeter({ hourlyAlertUsd: 0.0005, hourlyCapUsd: 5, onAlert: (alert) => void alerts.push(alert) }),
      b.llmHandler({ client }),
    ],
  });
  app.app.use(
    '/admin',
    app.budget.adminRouter({
      authorize: (req) => req.get('x-admin') === 'yes',
      challenge,
      actor: (req) => req.get('x-admin-name'),
      onFlagChange: (change) => void audits.push(change),
    }),
  );
  return { ...app, audits, alerts };
}

const chat = (app: TestApp, user: string, n: number) =>
  request(app.app)
    .post('/chat')
    .set('x-test-user', user)
    .send({ messages: [{ role: 'user', content: words(n) }] });
const admin = (app: TestApp, path: string) => request(app.app).get(`/admin${path}`).set('x-admin', 'yes');

/** What the upstream billed for the calls of user `id` (by its hashed safety identifier: all calls when omitted). */
function billedUsd(app: TestApp): number {
  return app.upstream.calls.reduce(
    (sum, call) => sum + call.usage!.prompt_tokens * GPT_4O.input + call.usage!.completion_tokens * GPT_4O.output,
    0,
  );
}

describe('authorization', () => {
  let app: AdminApp;
  beforeAll(async () => {
    app = await adminApp();
    expect((await chat(app, 'alice', 10)).status).toBe(200);
  });
  afterAll(() => app.close());

  it('is required: no default lets anyone in', () => {
    expect(() => app.budget.adminRouter(undefined as never)).toThrow(/TB_INVALID_OPTION/);
    expect(() => app.budget.adminRouter({} as never)).toThrow(/authorize/);
  });

  it.each([
    '/',
    '/assets/dashboard.js',
    '/api/overview',
    '/api/spend',
    '/api/principals/top',
    '/api/quotas/user/alice',
    '/api/flags',
    '/api/alerts',
  ])('refuses GET %s with 403 and no data', async (path) => {
    const res = await request(app.app).get(`/admin${path}`).set('x-admin', 'no');
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: { type: 'forbidden', message: expect.any(String) } });
    expect(res.text).not.toMatch(/alice|spend|usd/i);
  });

  it('refuses a flag switch, which changes nothing', async () => {
    const res = await request(app.app).post('/admin/api/flags/chat').send({ on: false });
    expect(res.status).toBe(403);
    expect(await app.budget.flags.get('chat')).toBeUndefined();
    expect(app.audits).toEqual([]);
  });

  it('refuses when authorize throws or resolves to something other than true', async () => {
    const throwing = await startTestApp();
    throwing.app.use(
      '/a',
      throwing.budget.adminRouter({
        authorize: (req) => {
          if (req.get('x-mode') === 'throw') throw new Error('auth backend down');
          return Promise.resolve('yes' as unknown as boolean);
        },
      }),
    );
    expect((await request(throwing.app).get('/a/api/spend').set('x-mode', 'throw')).status).toBe(403);
    expect((await request(throwing.app).get('/a/api/spend')).status).toBe(403);
    await throwing.close();
  });

  it('answers 401 with the challenge when one is given', async () => {
    const challenged = await adminApp({}, 'Basic realm="ops"');
    const res = await request(challenged.app).get('/admin/api/overview');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="ops"');
    await challenged.close();
  });
});

/** The API's tests over one store; `useRedis` starts a Redis server for them. */
function apiTests(useRedis: boolean): void {
  let app: AdminApp;
  let server: RedisServer | undefined;
  let client: RedisClientType | undefined;
  beforeAll(async () => {
    if (useRedis) {
      server = await startRedis();
      client = createClient({ url: server.url });
      await client.connect();
    }
    app = await adminApp(client ? { store: redisStore(client) } : {});
    for (const [user, n, times] of [
      ['alice', 30, 3],
      ['bob', 10, 1],
      ['carol', 20, 2],
    ] as const)
      for (let i = 0; i < times; i++) expect((await chat(app, user, n)).status).toBe(200);
    await app.upstream.idle();
  });
  afterAll(async () => {
    await app.budget.flags.close();
    await app.close();
    await app.budget.store.close?.();
    client?.destroy();
    await server?.close();
  });

  /** The rankings are written after each settle, off the request's path: wait for the last. */
  const settledSpend = async () => {
    for (let i = 0; ; i++) {
      const spend = (await admin(app, '/api/spend')).body as { hour: { totalUsd: number } };
      if (spend.hour.totalUsd >= billedUsd(app) - 1e-12 || i > 50) return spend;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('reports spend this hour and today, by feature and in total, as the upstream billed it', async () => {
    const spend = (await settledSpend()) as {
      hour: { totalUsd: number; byFeature: { feature: string; usd: number }[] };
      day: { totalUsd: number; byFeature: { feature: string; usd: number }[] };
      tokensToday: { feature: string; tokens: number }[];
    };
    expect(spend.hour.totalUsd).toBeCloseTo(billedUsd(app), 12);
    expect(spend.day.totalUsd).toBeCloseTo(billedUsd(app), 12);
    expect(spend.hour.byFeature).toEqual([{ feature: 'chat', usd: spend.hour.totalUsd }]);
    expect(spend.tokensToday).toEqual([{ feature: 'chat', tokens: app.upstream.billedTokens() }]);
  });

  it('gives 24 hourly points, the current hour last with its spend', async () => {
    const { points } = (await admin(app, '/api/spend/hourly')).body as { points: { hour: string; usd: number }[] };
    expect(points).toHaveLength(24);
    expect(points[23]!.hour).toBe(`${new Date().toISOString().slice(0, 13)}:00:00Z`);
    expect(points[23]!.usd).toBeCloseTo(billedUsd(app), 12);
    expect(points.slice(0, 23).every((p) => p.usd === 0)).toBe(true);
  });

  it('lists the top principals by tokens today, bounded by limit', async () => {
    const used = async (id: string) => (await app.budget.usage.user(id)).used;
    const { principals } = (await admin(app, '/api/principals/top?limit=2')).body as {
      principals: { quota: string; id: string; tokens: number }[];
    };
    expect(principals).toEqual([
      { quota: 'user', id: 'alice', tokens: await used('alice') },
      { quota: 'user', id: 'carol', tokens: await used('carol') },
    ]);
  });

  it("reports one principal's usage of a named quota, and 404 for a quota that does not exist", async () => {
    const res = await admin(app, '/api/quotas/user/bob');
    expect(res.body).toEqual(JSON.parse(JSON.stringify(await app.budget.usage.user('bob'))));
    expect((await admin(app, '/api/quotas/team/bob')).status).toBe(404);
  });

  it('reports the alerts fired today and the meters’ thresholds and caps', async () => {
    expect(app.alerts.length).toBeGreaterThan(0);
    const { alerts } = (await admin(app, '/api/alerts')).body as { alerts: SpendAlert[] };
    expect(alerts).toEqual(app.alerts);
    const { meters } = (await admin(app, '/api/meters')).body as { meters: unknown[] };
    expect(meters).toEqual([
      {
        name: 'spend',
        per: 'global',
        timeZone: 'UTC',
        hourlyAlertUsd: [0.0005],
        dailyAlertUsd: [],
        hourlyCapUsd: 5,
        dailyCapUsd: null,
      },
    ]);
  });

  it('switches a flag, audited, and the next request of the feature is refused 503 feature_disabled', async () => {
    expect((await admin(app, '/api/flags')).body).toEqual({
      flags: [
        { name: 'chat', on: true, set: false },
        { name: 'reasoning', on: true, set: false },
      ],
    });
    expect((await request(app.app).post('/admin/api/flags/chat').set('x-admin', 'yes').send('on=false')).status).toBe(400);
    const off = await request(app.app)
      .post('/admin/api/flags/chat')
      .set('x-admin', 'yes')
      .set('x-admin-name', 'ops@example.com')
      .send({ on: false });
    expect(off.body).toEqual({ name: 'chat', on: false });
    expect(app.audits).toEqual([{ flag: 'chat', from: undefined, to: false, by: 'ops@example.com', at: expect.any(String) }]);
    const refused = await chat(app, 'alice', 5);
    expect(refused.status).toBe(503);
    expect(refused.body.error.type).toBe('feature_disabled');
    await request(app.app).post('/admin/api/flags/chat').set('x-admin', 'yes').send({ on: true });
    expect(app.audits[1]).toMatchObject({ from: false, to: true });
    expect((await chat(app, 'alice', 5)).status).toBe(200);
  });

  it('serves the page and its assets, with a policy that allows this origin only', async () => {
    const page = await admin(app, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.text).toContain('assets/dashboard.js');
    expect((await admin(app, '/assets/uPlot.iife.min.js')).text).toContain('uPlot');
    expect((await admin(app, '/assets/uPlot.LICENSE')).status).toBe(404);
    const bare = await request(app.app).get('/admin').set('x-admin', 'yes');
    expect(bare.status).toBe(302);
    expect(bare.headers.location).toBe('/admin/');
  });

  if (useRedis) {
    it('reads the top principals without scanning keys', async () => {
      const reference = createClient({ url: server!.url });
      await reference.connect();
      await reference.sendCommand(['CONFIG', 'RESETSTAT']);
      expect((await admin(app, '/api/overview')).status).toBe(200);
      const stats = String(await reference.sendCommand(['INFO', 'commandstats']));
      expect(stats).not.toMatch(/cmdstat_(scan|keys|zscan):/);
      expect(stats).toMatch(/cmdstat_zrevrange:calls=/);
      reference.destroy();
    });
  }
}

describe('the API with the memory store', () => apiTests(false));
// Skipped by name in mutation runs (scripts/mutation/skip.js), which start no Redis server.
describe('the API with Redis', () => apiTests(true));
