// userQuota and globalTpm over HTTP: computed caps, refusals, RateLimit headers, usage reads.
import request from 'supertest';
import { countChatTokens, memoryStore } from '../../lib';
import { globalScopeKey } from '../../lib/store/keys';
import { startTestApp, words, type TestApp } from '../helpers/app';

const features = { chat: { maxInput: 1000, maxOutput: 1000, model: 'gpt-4o' } };
const limits = { free: 300, pro: 1000 };

/** A user message whose prompt is exactly `n` tokens. */
function promptOf(n: number) {
  const base = countChatTokens([{ role: 'user', content: 'word' }], { model: 'gpt-4o' });
  const messages = [{ role: 'user' as const, content: words(n - base + 1) }];
  expect(countChatTokens(messages, { model: 'gpt-4o' })).toBe(n);
  return { messages };
}

let t: TestApp;
afterEach(() => t?.close());

function quotaApp(extra: Parameters<TestApp['budget']['userQuota']>[0] extends infer O ? Partial<O> : never = {}) {
  return startTestApp({
    users: true,
    budget: { features },
    upstream: { completionTokens: (_r, cap) => cap },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.userQuota({
        user: (req) => (req as { user?: { id: string } }).user?.id,
        tier: (req) => (req as { user?: { plan: string } }).user?.plan,
        limits,
        ...extra,
      }),
      b.llmHandler({ client }),
    ],
  });
}

/** An app whose replies are 5 tokens, with the user quota at the default tier's 300. */
function fiveTokenApp() {
  return startTestApp({
    users: true,
    budget: { features },
    upstream: { completionTokens: () => 5 },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => (req as { user?: { id: string } }).user?.id, limits }),
      b.llmHandler({ client }),
    ],
  });
}

test('a user with 300 tokens left and a 100-token prompt gets max_tokens 200', async () => {
  t = await quotaApp();
  const res = await request(t.app).post('/chat').set('x-test-user', 'alice').send(promptOf(100));
  expect(res.status).toBe(200);
  expect(t.upstream.calls[0]!.request.body.max_tokens).toBe(200);
  expect(res.headers['ratelimit-policy']).toBe('"user";q=300;w=86400');
  expect(res.headers.ratelimit).toMatch(/^"user";r=0;t=\d+$/);
});

test('RateLimit reports what is left after the call, not while it was reserved', async () => {
  t = await fiveTokenApp();
  const res = await request(t.app).post('/chat').set('x-test-user', 'gus').send(promptOf(100));
  expect(res.body.usage.total_tokens).toBe(105);
  expect(res.headers.ratelimit).toMatch(/^"user";r=195;t=\d+$/);
});

test('a quota with tokens left, but fewer than the prompt needs, says both figures', async () => {
  t = await fiveTokenApp();
  await request(t.app).post('/chat').set('x-test-user', 'hal').send(promptOf(100)); // 105 of 300
  const res = await request(t.app).post('/chat').set('x-test-user', 'hal').send(promptOf(200));
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ type: 'user_quota_exceeded', remaining: 195 });
  expect(res.body.error.message).toBe(
    'This request needs at least 201 tokens (200 input + 1 output), and your token quota for this period has 195 left.',
  );
});

test('a used-up quota is a 429 with Retry-After until the next UTC midnight; other users are untouched', async () => {
  t = await quotaApp();
  await request(t.app).post('/chat').set('x-test-user', 'alice').send(promptOf(100));
  const res = await request(t.app).post('/chat').set('x-test-user', 'alice').send(promptOf(10));
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ type: 'user_quota_exceeded', scope: 'user', limit: 300, remaining: 0 });
  const nextMidnight = new Date();
  nextMidnight.setUTCHours(24, 0, 0, 0);
  expect(res.body.error.reset_at).toBe(nextMidnight.toISOString());
  const retryAfter = Number(res.headers['retry-after']);
  expect(Math.abs(retryAfter - (nextMidnight.getTime() - Date.now()) / 1000)).toBeLessThan(5);
  expect(res.headers['ratelimit-policy']).toBe('"user";q=300;w=86400');
  expect(t.upstream.calls).toHaveLength(1);
  const bob = await request(t.app).post('/chat').set('x-test-user', 'bob').send(promptOf(10));
  expect(bob.status).toBe(200);
});

test('a request that cannot afford its input plus one output token is refused', async () => {
  t = await quotaApp();
  const res = await request(t.app).post('/chat').set('x-test-user', 'carol').send(promptOf(300));
  expect(res.status).toBe(429);
  expect(t.upstream.calls).toHaveLength(0);
  expect((await request(t.app).post('/chat').set('x-test-user', 'carol').send(promptOf(299))).status).toBe(200);
  expect(t.upstream.calls[0]!.request.body.max_tokens).toBe(1);
});

test('tiers map to limits; an unknown tier gets the smallest', async () => {
  t = await quotaApp();
  await request(t.app).post('/chat').set('x-test-user', 'p').set('x-test-plan', 'pro').send(promptOf(100));
  expect(t.upstream.calls[0]!.request.body.max_tokens).toBe(900);
  await request(t.app).post('/chat').set('x-test-user', 'q').set('x-test-plan', 'platinum').send(promptOf(100));
  expect(t.upstream.calls[1]!.request.body.max_tokens).toBe(200);
});

test('no user: 401 user_required by default, or a shared anonymous tier', async () => {
  t = await quotaApp();
  const res = await request(t.app).post('/chat').send(promptOf(10));
  expect(res.status).toBe(401);
  expect(res.body.error.type).toBe('user_required');
  await t.close();
  t = await quotaApp({ anonymous: { tier: 'free' } });
  expect((await request(t.app).post('/chat').send(promptOf(100))).status).toBe(200);
  expect((await request(t.app).post('/chat').send(promptOf(10))).status).toBe(429);
  expect((await request(t.app).post('/chat').set('x-test-user', 'anonymous').send(promptOf(10))).status).toBe(200);
});

test('usage.user and usageHandler report without consuming', async () => {
  t = await quotaApp();
  t.app.get(
    '/budget',
    (req, _res, next) => {
      (req as { user?: object }).user = { id: req.get('x-test-user'), plan: 'free' };
      next();
    },
    t.budget.usageHandler(),
  );
  const used = (await request(t.app).post('/chat').set('x-test-user', 'dan').send(promptOf(50))).body.usage.total_tokens;
  for (let i = 0; i < 3; i++) {
    const res = await request(t.app).get('/budget').set('x-test-user', 'dan');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ used, limit: 300, remaining: 300 - used });
    expect(res.headers['ratelimit-policy']).toBe('"user";q=300;w=86400');
  }
  expect(await t.budget.usage.user('dan', 'free')).toMatchObject({ used, limit: 300, remaining: 300 - used });
  expect(await t.budget.usage.user('nobody')).toMatchObject({ used: 0, limit: 300, remaining: 300 });
});

test('globalTpm refuses past the limit with 429 global_rate_limited and RateLimit headers', async () => {
  t = await startTestApp({
    budget: { features, store: memoryStore() },
    upstream: { completionTokens: (_r, cap) => cap },
    chain: (b, client) => [b.featureBudget('chat'), b.globalTpm({ limit: 500, headers: true }), b.llmHandler({ client })],
  });
  const first = await request(t.app).post('/chat').send(promptOf(100));
  expect(first.status).toBe(200);
  expect(t.upstream.calls[0]!.request.body.max_tokens).toBe(400);
  expect(first.headers['ratelimit-policy']).toBe('"global";q=500;w=60');
  const second = await request(t.app).post('/chat').send(promptOf(10));
  expect(second.status).toBe(429);
  expect(second.body.error.type).toBe('global_rate_limited');
  expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(Number(second.headers['retry-after'])).toBeLessThanOrEqual(61);
});

test('all-or-nothing: a user refusal takes nothing from the global budget', async () => {
  t = await startTestApp({
    users: true,
    budget: { features },
    upstream: { completionTokens: (_r, cap) => cap },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => (req as { user?: { id: string } }).user?.id, limits: 100 }),
      b.globalTpm({ limit: 1000 }),
      b.llmHandler({ client }),
    ],
  });
  for (let i = 0; i < 5; i++) {
    expect((await request(t.app).post('/chat').set('x-test-user', 'eve').send(promptOf(150))).status).toBe(429);
  }
  const global = await t.budget.store.usage({
    kind: 'global',
    key: globalScopeKey('tpm'),
    limit: 1000,
    onUnavailable: 'fail-closed',
    window: { kind: 'sliding', windowMs: 60_000, bucketMs: 1_000 },
  });
  expect(global.used).toBe(0);
  expect(t.upstream.calls).toHaveLength(0);
});
