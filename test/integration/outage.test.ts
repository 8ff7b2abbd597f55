// Store outages over HTTP: Redis killed or stalled, each policy answers in time, and recovery counts again.
import request from 'supertest';
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import type { UnavailablePolicy } from '../../lib';
import { startTestApp, type TestApp } from '../helpers/app';
import { startRedis, type RedisServer } from '../helpers/redis';

const USER_LIMIT = 200;
const hi = { messages: [{ role: 'user', content: 'Hi' }] };

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
const apps: Partial<Record<UnavailablePolicy, TestApp>> = {};

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url, socket: { socketTimeout: 500, reconnectStrategy: () => 100 } });
  client.on('error', () => {});
  await client.connect();
  for (const policy of ['fail-closed', 'fail-open', 'fallback'] as const) {
    apps[policy] = await startTestApp({
      users: true,
      budget: {
        features: { chat: { maxInput: 100, maxOutput: 20, model: 'gpt-4o' } },
        store: redisStore(client, { prefix: `${policy}:`, timeoutMs: 300, onError: () => {} }),
        onStoreUnavailable: policy,
      },
      upstream: { completionTokens: (_r, cap) => cap },
      chain: (b, c) => [
        b.featureBudget('chat'),
        b.userQuota({ user: (req) => (req as { user?: { id: string } }).user?.id, limits: USER_LIMIT }),
        b.llmHandler({ client: c }),
      ],
    });
  }
}, 30_000);

afterAll(async () => {
  await Promise.all(Object.values(apps).map((app) => app.close()));
  await client.close().catch(() => {});
  await redis.close();
});

const send = (policy: UnavailablePolicy, user: string) =>
  request(apps[policy]!.app).post('/chat').set('x-test-user', user).send(hi);

async function expectPolicies(user: string): Promise<void> {
  const started = Date.now();
  const closed = await send('fail-closed', user);
  expect(closed.status).toBe(503);
  expect(closed.body.error.type).toBe('budget_unavailable');
  expect(closed.headers['retry-after']).toBe('1');
  expect((await send('fail-open', user)).status).toBe(200);
  // The fallback keeps the same limits in this process's memory: the quota still runs out.
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await send('fallback', user)).status);
  expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
  expect(statuses.at(-1)).toBe(429);
  // None of it waited on the dead store for long (deadline 300 ms, cool-down after the first failure).
  expect(Date.now() - started).toBeLessThan(5000);
}

async function expectCountedInRedis(user: string): Promise<void> {
  // The cool-down passes and the store is tried again.
  await new Promise((r) => setTimeout(r, 1200));
  for (const policy of ['fail-closed', 'fail-open', 'fallback'] as const) {
    const res = await send(policy, user);
    expect(res.status).toBe(200);
    expect(await apps[policy]!.budget.usage.user(user)).toMatchObject({ used: res.body.usage.total_tokens, limit: USER_LIMIT });
  }
}

/** The fallback starts from what Redis last said of a user: the app reads the user's usage before the outage. */
const seenByFallback = (user: string) => apps.fallback!.budget.usage.user(user);

test('Redis killed: fail-closed 503, fail-open admits, fallback enforces in memory; then recovery', async () => {
  await seenByFallback('killed');
  await redis.kill();
  await expectPolicies('killed');
  await redis.restart();
  await expectCountedInRedis('after-restart');
}, 30_000);

test('Redis stalled (SIGSTOP): the same within the deadline, then recovery on SIGCONT', async () => {
  await seenByFallback('stalled');
  redis.stop();
  try {
    await expectPolicies('stalled');
  } finally {
    redis.cont();
  }
  await expectCountedInRedis('after-cont');
}, 30_000);
