// Flags across processes: 4 app processes on one Redis; how long a flip takes to reach every one of them.
import { createClient } from 'redis';
import { createFlagCache, type FlagCache } from '../../lib/flags/cache';
import { redisFlagChannel } from '../../lib/store/redis-flags';
import { redisConnection } from '../../lib/store/redis-transport';
import { spawnApp } from '../helpers/child-app';
import { startRedis, type RedisServer } from '../helpers/redis';

const PROCESSES = 4;
const FLIPS = 20;
const WORKER = require.resolve('../fixtures/flag-worker.ts');

type Worker = Awaited<ReturnType<typeof spawnApp>>;

let server: RedisServer;
let workers: Worker[] = [];
let operator: FlagCache;
let closeClient: () => Promise<unknown>;

beforeAll(async () => {
  server = await startRedis();
  const client = createClient({ url: server.url });
  client.on('error', () => {});
  await client.connect();
  closeClient = () => client.close();
  // The operator's process: it flips the flag, as `budget.flags.set` or the CLI would.
  operator = createFlagCache({ channel: redisFlagChannel(redisConnection(client), 'tb:') });
  workers = await Promise.all(Array.from({ length: PROCESSES }, () => spawnApp(WORKER, { REDIS_URL: server.url })));
}, 60_000);

afterAll(async () => {
  for (const { child } of workers) child.kill();
  await operator?.close();
  await closeClient?.();
  await server?.close();
});

const statusOf = async ({ port }: Worker) => (await fetch(`http://127.0.0.1:${port}/chat`)).status;

/** Milliseconds from `since` until the worker answers `status`, asking again as soon as it answers. */
async function timeUntil(worker: Worker, status: number, since: number): Promise<number> {
  for (;;) {
    if ((await statusOf(worker)) === status) return performance.now() - since;
  }
}

test('a flip reaches every process within 1 s, every time', async () => {
  expect(await Promise.all(workers.map(statusOf))).toEqual([200, 200, 200, 200]);
  const slowest: number[] = [];
  for (let flip = 0; flip < FLIPS; flip++) {
    const on = flip % 2 === 1;
    const started = performance.now();
    await operator.set('chat', on);
    const times = await Promise.all(workers.map((worker) => timeUntil(worker, on ? 200 : 503, started)));
    slowest.push(Math.max(...times));
  }
  const sorted = [...slowest].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  process.stdout.write(
    `flag propagation to ${PROCESSES} processes over ${FLIPS} flips: median ${median.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms (slowest process per flip)\n`,
  );
  expect(sorted.at(-1)).toBeLessThan(1000);
  expect(await Promise.all(workers.map(statusOf))).toEqual([200, 200, 200, 200]);
});

test('a process started after a flip refuses from its very first request', async () => {
  await operator.set('chat', false);
  const late = await spawnApp(WORKER, { REDIS_URL: server.url });
  workers.push(late);
  expect(await statusOf(late)).toBe(503);
  await operator.set('chat', true);
});
