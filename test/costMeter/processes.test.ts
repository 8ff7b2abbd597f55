// Across processes: 4 app processes (node-redis and ioredis) on one Redis, 1,000 concurrent requests; alerts exactly once, a hard cap never overspent.
import { createClient } from 'redis';
import { countChatTokens, redisStore, type ChatMessage } from '../../lib';
import type { SpendAlert } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream } from '../../lib/testing';
import { spawnApp } from '../helpers/child-app';
import { startRedis, type RedisServer } from '../helpers/redis';
import { startReceiver } from '../alerts/receiver';
import { billedNanos, meterScope, storm, USD } from './money';

const PROCESSES = 4;
const REQUESTS = 1000;
const WORKER = require.resolve('../fixtures/cost-worker.ts');

type Worker = Awaited<ReturnType<typeof spawnApp>>;

/** Two requests in three ask for the whole output cap, the others for less. */
const completionTokens = (request: { body: Record<string, unknown> }, cap: number) =>
  String(JSON.stringify(request.body.messages)).length % 3 === 0 ? Math.max(1, cap - 7) : cap;
const body = (i: number) => ({ messages: [{ role: 'user', content: `question number ${i}` }] });

let redis: RedisServer;
let upstream: OfflineUpstream;
let client: ReturnType<typeof createClient>;
let workers: Worker[] = [];

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startOfflineUpstream({ completionTokens });
  client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
}, 60_000);

afterEach(() => {
  for (const { child } of workers) child.kill();
  workers = [];
  upstream.calls.length = 0;
});

afterAll(async () => {
  client?.destroy();
  await upstream?.close();
  await redis?.close();
});

/** Half the processes on node-redis, half on ioredis, each with its own prefix-free view of one meter. */
async function startWorkers(prefix: string, meter: object, webhook?: string): Promise<number[]> {
  workers = await Promise.all(
    Array.from({ length: PROCESSES }, (_, i) =>
      spawnApp(WORKER, {
        REDIS_URL: redis.url,
        REDIS_CLIENT: i % 2 === 0 ? 'redis' : 'ioredis',
        UPSTREAM_URL: upstream.baseURL,
        PREFIX: prefix,
        COST_METER: JSON.stringify(meter),
        ...(webhook ? { WEBHOOK_URL: webhook } : {}),
      }),
    ),
  );
  return workers.map((w) => w.port);
}

test('each threshold and the spike are alerted exactly once across 4 processes, to onAlert and the webhook', async () => {
  const receiver = await startReceiver();
  try {
    // 20 hourly thresholds, 5 daily ones and the spike: 26 crossings, each to be alerted once.
    const hourly = Array.from({ length: 20 }, (_, i) => (i + 1) * 0.005);
    const daily = [0.02, 0.04, 0.06, 0.08, 0.1];
    const ports = await startWorkers(
      'alerts:',
      { hourlyAlertUsd: hourly, dailyAlertUsd: daily, spike: { factor: 3, minUsd: 0.04 } },
      receiver.url,
    );
    const { statuses } = await storm(ports, REQUESTS, body);
    expect(statuses.get(200)).toBe(REQUESTS);
    const billed = billedNanos(upstream.calls);
    // Every threshold was passed.
    expect(billed).toBeGreaterThan(0.1 * USD);

    const raised = (
      await Promise.all(
        ports.map(async (port) => (await fetch(`http://127.0.0.1:${port}/alerts`)).json() as Promise<SpendAlert[]>),
      )
    ).flat();
    const names = (alerts: SpendAlert[]) => alerts.map((a) => `${a.kind} ${a.window} ${a.thresholdUsd}`).sort();
    const expected = [
      'spike hour 0.04',
      ...daily.map((usd) => `threshold day ${usd}`),
      ...hourly.map((usd) => `threshold hour ${usd}`),
    ].sort();
    expect(names(raised)).toEqual(expected);
    await receiver.count(expected.length);
    expect(names(receiver.received.map((r) => r.body as SpendAlert))).toEqual(expected);
    // More than one process raised them: exactly-once is not one process doing all the work.
    console.log(
      `alerts raised per process: ${JSON.stringify(await Promise.all(ports.map(async (port) => ((await (await fetch(`http://127.0.0.1:${port}/alerts`)).json()) as unknown[]).length)))}, total ${raised.length} for ${expected.length} crossings`,
    );
    expect((await redisStore(client, { prefix: 'alerts:' }).spentAt!(meterScope('hour'), [Date.now()]))[0]).toBe(billed);
  } finally {
    await receiver.close();
  }
}, 120_000);

test('a hard cap is never overspent: 1,000 concurrent requests on 4 processes, billed cost ≤ cap', async () => {
  const capUsd = 0.05;
  const ports = await startWorkers('cap:', { hourlyCapUsd: capUsd });
  const { statuses, types } = await storm(ports, REQUESTS, body);
  expect([...statuses.keys()].sort()).toEqual([200, 503]);
  expect(types.get('spend_cap_reached')).toBe(statuses.get(503));
  expect(upstream.calls).toHaveLength(statuses.get(200)!);
  const billed = billedNanos(upstream.calls);
  const overshoot = Math.max(0, billed - capUsd * USD);
  console.log(
    `cap $${capUsd}: billed $${billed / USD} by ${statuses.get(200)} calls, ${statuses.get(503)} refused, overshoot ${overshoot} nano-USD`,
  );
  expect(overshoot).toBe(0);
  // Enough was admitted that the cap was really contested (worst-case reservations in flight refuse some early).
  expect(billed).toBeGreaterThan(0.9 * capUsd * USD);
  // Settled to what the upstream billed: no reservation left behind, no settlement lost.
  const store = redisStore(client, { prefix: 'cap:' });
  expect((await store.spentAt!(meterScope('hour'), [Date.now()]))[0]).toBe(billed);
  expect((await store.usage(meterScope('hour'))).used).toBe(billed);
  // With the storm over, a request the money left can pay for is admitted again.
  const prompt = countChatTokens(body(0).messages as ChatMessage[], { model: 'gpt-4o' });
  const after = await storm(ports.slice(0, 1), 1, body);
  // gpt-4o: 2,500 nano-USD per input token, 10,000 per output token; at least one output token.
  expect(after.statuses.get(capUsd * USD - billed >= prompt * 2500 + 10_000 ? 200 : 503)).toBe(1);
}, 120_000);
