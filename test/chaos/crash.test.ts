// A process killed mid-call: its reservations are held until their lease expires, then settled at their input.
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import type { ScopeRequest } from '../../lib/store/types';
import { startOfflineUpstream, type OfflineUpstream } from '../../lib/testing';
import { startRedis, type RedisServer } from '../helpers/redis';
import { startWorkers, stopWorkers, type Worker } from './harness';
import { until } from '../helpers/until';
import { chaosScopes } from './scopes';

const CALL_TIMEOUT_MS = 3_000;
const LEASE_MARGIN_MS = 1_000;
/** The documented bound: a dead process's reservation is held at most this long after it was taken. */
const LEASE_MS = CALL_TIMEOUT_MS + LEASE_MARGIN_MS;
const IN_FLIGHT = 10;
const SCOPES = chaosScopes({ default: 1_000_000 });

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
let upstream: OfflineUpstream;
let workers: Worker[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
  // The calls of the process about to die take far longer than the test.
  upstream = await startOfflineUpstream({
    behave: (req) => (JSON.stringify(req.body.messages).includes('slow') ? { kind: 'delay', ms: 60_000 } : { kind: 'reply' }),
  });
  workers = await startWorkers(2, {
    REDIS_URL: redis.url,
    UPSTREAM_URL: upstream.baseURL,
    PREFIX: 'crash:',
    TIMEOUT_MS: String(CALL_TIMEOUT_MS),
    CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
    LEASE_MARGIN_MS: String(LEASE_MARGIN_MS),
  });
}, 60_000);

afterAll(async () => {
  await stopWorkers(workers);
  await client?.close().catch(() => {});
  await redis?.close();
  await upstream?.close();
});

const send = (worker: Worker, content: string) =>
  fetch(`http://127.0.0.1:${worker.port}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user': 'crash' },
    body: JSON.stringify({ messages: [{ role: 'user', content }] }),
  });

test(`SIGKILL with ${IN_FLIGHT} calls in flight: held for callTimeoutMs + leaseMarginMs, then settled at their input`, async () => {
  const [doomed, survivor] = workers as [Worker, Worker];
  const store = redisStore(client, { prefix: 'crash:' });
  const used = async (scope: ScopeRequest) => (await store.usage(scope)).used;
  const counters = async () => ({
    user: await used(SCOPES.user('crash')),
    feature: await used(SCOPES.feature),
    global: await used(SCOPES.global),
  });
  const all = (n: number) => ({ user: n, feature: n, global: n });

  const sentAt = Date.now();
  for (let i = 0; i < IN_FLIGHT; i++) void send(doomed, `slow question ${i} about my order`).catch(() => undefined);
  await until(() => upstream.calls.length === IN_FLIGHT, { timeoutMs: 15_000 });
  const dead = upstream.calls.slice();
  const exited = new Promise((resolve) => doomed.child.once('exit', resolve));
  doomed.child.kill('SIGKILL');
  await exited;
  const reserved = dead.reduce((sum, call) => sum + call.promptTokens + call.cap!, 0);
  const inputs = dead.reduce((sum, call) => sum + call.promptTokens, 0);

  // Within the lease the calls may still be running elsewhere: nothing is taken back yet.
  const early = await send(survivor, 'a question right after the crash');
  expect(early.status).toBe(200);
  const earlyTotal = ((await early.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
  expect(Date.now() - sentAt).toBeLessThan(LEASE_MS);
  expect(await counters()).toEqual(all(reserved + earlyTotal));

  // Past the lease, the next reservation touching the scopes settles the dead calls at their input.
  await new Promise((resolve) => setTimeout(resolve, sentAt + LEASE_MS + 500 - Date.now()));
  const late = await send(survivor, 'a question once the leases expired');
  expect(late.status).toBe(200);
  const lateTotal = ((await late.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
  expect(await counters()).toEqual(all(inputs + earlyTotal + lateTotal));
}, 30_000);
