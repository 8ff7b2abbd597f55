// The multi-process proof, 20 times in a row: 4 processes × 1,000 concurrent requests of one user, default store deadline and policy.
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream, type UpstreamRequest } from '../../lib/testing';
import { startRedis, type RedisServer } from '../helpers/redis';
import { startWorkers, stopWorkers, workersQuiet, type Worker } from './harness';
import { until } from '../helpers/until';
import { chaosScopes } from './scopes';

const PROCESSES = 4;
const REQUESTS = 1_000;
const RUNS = Number(process.env.CHAOS_RUNS ?? 20);
const USER_LIMIT = 10_000;
const SCOPES = chaosScopes({ default: USER_LIMIT });

const RUN_MARKER = /\[run (\d+)\]/;
const runOf = (request: UpstreamRequest) => Number(RUN_MARKER.exec(JSON.stringify(request.body.messages))?.[1]);

/** The upstream generates the whole cap for two requests in three, less for the rest (as in the integration proof). */
const completionTokens = (request: UpstreamRequest, cap: number) =>
  String(JSON.stringify(request.body.messages)).length % 3 === 0 ? Math.max(1, cap - 7) : cap;

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
let upstream: OfflineUpstream;
let workers: Worker[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
  upstream = await startOfflineUpstream({ completionTokens });
  // The budgets' defaults: a 1 s store deadline and the 'fallback' policy, which once took a busy loop for a dead Redis.
  workers = await startWorkers(PROCESSES, {
    REDIS_URL: redis.url,
    UPSTREAM_URL: upstream.baseURL,
    MAX_OUTPUT: '20',
    USER_LIMITS: JSON.stringify({ default: USER_LIMIT }),
    // An app's client as the README advises: an idle time-out well above a busy moment's silence.
    SOCKET_TIMEOUT_MS: '5000',
  });
}, 60_000);

afterAll(async () => {
  await stopWorkers(workers);
  await client?.close().catch(() => {});
  await redis?.close();
  await upstream?.close();
});

async function storm(run: number, user: string): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const res = await fetch(`http://127.0.0.1:${workers[i % PROCESSES]!.port}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user': user },
        body: JSON.stringify({ messages: [{ role: 'user', content: `question number ${i} [run ${run}]` }] }),
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }),
  );
  return statuses;
}

test(`${RUNS} runs in a row: the store holds exactly the upstream's bill, never above the quota`, async () => {
  const store = redisStore(client, { prefix: 'tb:' });
  const results: Array<{ run: number; billed: number; stored: number; statuses: string }> = [];
  for (let run = 0; run < RUNS; run++) {
    const user = `storm-${run}`;
    const statuses = await storm(run, user);
    await upstream.idle();
    await workersQuiet(workers);
    const billed = upstream.calls
      .filter((call) => runOf(call.request) === run)
      .reduce((sum, call) => sum + call.usage!.total_tokens, 0);
    const read = async () => (await store.usage(SCOPES.user(user))).used;
    let stored = await read();
    await until(async () => (stored = await read()) === billed, { timeoutMs: 5_000 }).catch(() => 0);
    results.push({
      run,
      billed,
      stored,
      statuses: [...statuses]
        .sort()
        .map(([s, n]) => `${s}×${n}`)
        .join(' '),
    });
  }
  console.log(results.map((r) => `run ${r.run}: billed ${r.billed}, stored ${r.stored}, ${r.statuses}`).join('\n'));
  const wrong = results.filter((r) => r.stored !== r.billed || r.billed > USER_LIMIT || !/^200×\d+ 429×\d+$/.test(r.statuses));
  expect(wrong).toEqual([]);
  // The quota was really contested every time.
  expect(Math.min(...results.map((r) => r.billed))).toBeGreaterThan(USER_LIMIT * 0.8);
}, 600_000);
