// Redis stalled (SIGSTOP) and killed (SIGKILL) under steady load: deadlines hold, policies hold, counts come back.
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream, type UpstreamCall } from '../../lib/testing';
import { startRedis, type RedisServer } from '../helpers/redis';
import { getJson, startWorkers, stopWorkers, workersQuiet, type Worker } from './harness';
import { until } from '../helpers/until';
import { chaosScopes } from './scopes';

const POLICIES = ['fail-closed', 'fail-open', 'fallback'] as const;
type Policy = (typeof POLICIES)[number];
/** redisStore's deadline in the workers. */
const STORE_TIMEOUT_MS = 300;
/** The heavy user's daily quota: most of it is used before the outage. */
const HEAVY_LIMIT = 2_000;
const LIMITS = { steady: 10_000_000, heavy: HEAVY_LIMIT };
const SCOPES = chaosScopes(LIMITS);
const OUTAGE_MS = 3_000;
/** Full service is due this long after Redis is back. */
const RECOVERY_MS = 2_000;

interface Exchange {
  policy: Policy;
  user: string;
  id: number;
  startedAt: number;
  endedAt: number;
  /** How long the app took, measured inside its process. */
  servedMs?: number;
  status: number;
  type: string | undefined;
  retryAfter: string | null;
  json: boolean;
}

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
let upstream: OfflineUpstream;
const apps = {} as Record<Policy, Worker>;

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url, socket: { reconnectStrategy: () => 100 } });
  client.on('error', () => {});
  await client.connect();
  upstream = await startOfflineUpstream({ completionTokens: () => 20 });
  const started = await Promise.all(
    POLICIES.map((policy) =>
      startWorkers(1, {
        REDIS_URL: redis.url,
        UPSTREAM_URL: upstream.baseURL,
        PREFIX: `${policy}:`,
        POLICY: policy,
        STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
        USER_LIMITS: JSON.stringify(LIMITS),
      }),
    ),
  );
  POLICIES.forEach((policy, i) => (apps[policy] = started[i]![0]!));
  // First requests load scripts and warm the SDK: not what is measured here.
  for (const policy of POLICIES) for (let i = 0; i < 3; i++) await exchange(policy, 'warm-up', 'steady');
}, 60_000);

afterAll(async () => {
  await stopWorkers(Object.values(apps));
  await client?.close().catch(() => {});
  await redis?.close();
  await upstream?.close();
});

let nextId = 0;
const MARKER = /\[outage (\S+) (\S+) (\d+)\]/;
/** Which app and user an upstream call came from. */
const origin = (call: UpstreamCall) => MARKER.exec(JSON.stringify(call.request.body.messages))!;

async function exchange(policy: Policy, user: string, tier: keyof typeof LIMITS): Promise<Exchange> {
  const id = nextId++;
  const startedAt = performance.now();
  const res = await fetch(`http://127.0.0.1:${apps[policy].port}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user': user, 'x-tier': tier, 'x-request-id': String(id) },
    body: JSON.stringify({ messages: [{ role: 'user', content: `How is my order? [outage ${policy} ${user} ${id}]` }] }),
  });
  const text = await res.text();
  const endedAt = performance.now();
  let body: { error?: { type?: string } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  return {
    policy,
    user,
    id,
    startedAt,
    endedAt,
    status: res.status,
    type: body?.error?.type,
    retryAfter: res.headers.get('retry-after'),
    json: body !== undefined,
  };
}

/** What the upstream billed for the exchanges that match. */
const billed = (exchanges: readonly Exchange[]) => {
  const ids = new Set(exchanges.map((e) => String(e.id)));
  return upstream.calls.filter((call) => ids.has(origin(call)[3]!)).reduce((sum, call) => sum + call.usage!.total_tokens, 0);
};

describe.each([
  { outage: 'SIGSTOP (stalled)', stall: true },
  { outage: 'SIGKILL then restart (empty)', stall: false },
])('Redis $outage under steady load', ({ stall }) => {
  const suffix = stall ? 'stop' : 'kill';
  const steady = `steady-${suffix}`;
  const heavy = `heavy-${suffix}`;
  const exchanges: Exchange[] = [];
  let heavyBefore = 0;
  let outageAt = 0;
  let recoveredAt = 0;

  beforeAll(async () => {
    // The heavy user spends most of the quota while Redis is healthy.
    while (heavyBefore < HEAVY_LIMIT - 600) {
      const e = await exchange('fallback', heavy, 'heavy');
      expect(e.status).toBe(200);
      exchanges.push(e);
      heavyBefore = billed(exchanges.filter((x) => x.user === heavy));
    }
    let running = true;
    const loop = async (policy: Policy, user: string, tier: keyof typeof LIMITS, from = () => true) => {
      while (running) {
        if (from()) exchanges.push(await exchange(policy, user, tier));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const loops = [
      ...POLICIES.flatMap((policy) => [loop(policy, steady, 'steady'), loop(policy, steady, 'steady')]),
      loop('fallback', heavy, 'heavy', () => outageAt > 0),
    ];
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    if (stall) redis.stop();
    else await redis.kill();
    outageAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    if (stall) redis.cont();
    else await redis.restart();
    recoveredAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, RECOVERY_MS + 1_500));
    running = false;
    await Promise.all(loops);
    await upstream.idle();
    await workersQuiet(Object.values(apps));
    const served = new Map<string, number>();
    for (const policy of POLICIES)
      for (const s of await getJson<Array<{ id: string; ms: number }>>(apps[policy].port, '/served')) served.set(s.id, s.ms);
    for (const e of exchanges) e.servedMs = served.get(String(e.id));
  }, 60_000);

  const during = () => exchanges.filter((e) => e.startedAt > outageAt + STORE_TIMEOUT_MS + 100 && e.endedAt < recoveredAt);
  const byPolicy = (list: Exchange[], policy: Policy, user = steady) =>
    list.filter((e) => e.policy === policy && e.user === user);

  test('no process crashed; every answer is JSON and 200, 429, or the documented 503 of fail-closed', () => {
    for (const app of Object.values(apps))
      expect({ exitCode: app.child.exitCode, signal: app.child.signalCode }).toEqual({ exitCode: null, signal: null });
    const undocumented = exchanges.filter(
      (e) =>
        !e.json ||
        !(
          e.status === 200 ||
          e.status === 429 ||
          (e.status === 503 && e.policy === 'fail-closed' && e.type === 'budget_unavailable')
        ),
    );
    expect(undocumented).toEqual([]);
    expect(during().length).toBeGreaterThan(50);
  });

  // The aim is deadline + 100 ms (met on a quiet machine: 314–338 ms); this suite shares 2 cores with 3 apps, Redis,
  // the upstream and its own client, whose stalls are not the store's: the bound the test holds is deadline + 200 ms.
  const LATE_MS = STORE_TIMEOUT_MS + 200;
  test(`no request waits past the store deadline + 200 ms (${LATE_MS} ms) under this suite's own load`, () => {
    // Measured inside the app (the client side adds this test process's own delays; both are reported).
    const waited = (e: Exchange) => Math.round(e.servedMs ?? Infinity);
    const clientSide = (e: Exchange) => Math.round(e.endedAt - e.startedAt);
    console.log(
      `Redis ${suffix}: slowest of ${exchanges.length} requests: ${Math.max(...exchanges.map(waited))} ms in the app, ` +
        `${Math.max(...exchanges.map(clientSide))} ms at the client`,
    );
    const late = exchanges
      .filter((e) => waited(e) > LATE_MS)
      .map((e) => ({
        policy: e.policy,
        user: e.user,
        status: e.status,
        servedMs: waited(e),
        clientMs: clientSide(e),
        startedAfterOutageMs: Math.round(e.startedAt - outageAt),
      }));
    expect(late).toEqual([]);
  });

  test('during the outage: fail-closed answers 503 + Retry-After, fail-open and fallback serve', () => {
    const closed = byPolicy(during(), 'fail-closed');
    expect(closed.length).toBeGreaterThan(0);
    expect(closed.filter((e) => e.status !== 503 || e.type !== 'budget_unavailable' || e.retryAfter === null)).toEqual([]);
    for (const policy of ['fail-open', 'fallback'] as const) {
      const served = byPolicy(during(), policy);
      expect(served.length).toBeGreaterThan(0);
      expect(served.filter((e) => e.status !== 200)).toEqual([]);
    }
  });

  test('the fallback continues from what the user had used: never a fresh quota, not even at the handover', () => {
    const heavyExchanges = exchanges.filter((e) => e.user === heavy);
    expect(heavyExchanges.some((e) => e.startedAt > outageAt && e.status === 429 && e.type === 'user_quota_exceeded')).toBe(true);
    // A restarted Redis has forgotten the day (no persistence): only the stalled one can be held to the whole day.
    const judged = stall ? heavyExchanges : heavyExchanges.filter((e) => e.startedAt < recoveredAt);
    expect(billed(judged)).toBeLessThanOrEqual(HEAVY_LIMIT);
  });

  test(`full service within ${RECOVERY_MS} ms of Redis coming back`, () => {
    const afterwards = exchanges.filter((e) => e.startedAt > recoveredAt + RECOVERY_MS && e.user === steady);
    expect(afterwards.length).toBeGreaterThan(20);
    expect(afterwards.filter((e) => e.status !== 200)).toEqual([]);
    const firstServed = exchanges.find((e) => e.policy === 'fail-closed' && e.startedAt > recoveredAt && e.status === 200);
    expect(firstServed).toBeDefined();
    console.log(
      `Redis ${suffix}: fail-closed served again ${Math.round(firstServed!.startedAt - recoveredAt)} ms after recovery`,
    );
  });

  test('what the fallback counted is in Redis after recovery', async () => {
    const store = redisStore(client, { prefix: 'fallback:' });
    const mine = byPolicy(exchanges, 'fallback');
    const readUsed = async () => (await store.usage(SCOPES.user(steady, 'steady'))).used;
    if (stall) {
      // Nothing was lost: Redis holds exactly what the upstream billed this user, before, during and after.
      const expected = billed(mine);
      let used = await readUsed();
      await until(async () => (used = await readUsed()) === expected, { timeoutMs: 5_000 }).catch(() => 0);
      expect(used).toBe(expected);
    } else {
      // The restarted Redis lost what came before the kill; it holds what was counted since.
      const counted = billed(mine.filter((e) => e.startedAt > outageAt && e.endedAt < recoveredAt));
      const since = billed(mine.filter((e) => e.endedAt > outageAt));
      const used = await readUsed();
      expect(used).toBeGreaterThanOrEqual(counted + billed(mine.filter((e) => e.startedAt > recoveredAt + RECOVERY_MS)));
      expect(used).toBeLessThanOrEqual(since);
    }
  });
});

test('the first reservation after Redis returns already sees what the fallback counted', async () => {
  const user = 'handover';
  const mine: Exchange[] = [];
  const spend = async () => {
    const e = await exchange('fallback', user, 'heavy');
    mine.push(e);
    return e;
  };
  while (billed(mine) < HEAVY_LIMIT - 600) expect((await spend()).status).toBe(200);
  redis.stop();
  try {
    // The fallback lets the user spend the rest of the quota, and no more.
    for (let i = 0; i < 40 && (await spend()).status === 200; i++);
    expect(mine.at(-1)!.status).toBe(429);
  } finally {
    redis.cont();
  }
  // Past the cool-down, this user's request is the one that finds Redis back.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const afterwards = [await spend(), await spend()];
  expect(afterwards.map((e) => [e.status, e.type])).toEqual([
    [429, 'user_quota_exceeded'],
    [429, 'user_quota_exceeded'],
  ]);
  expect(billed(mine)).toBeLessThanOrEqual(HEAVY_LIMIT);
}, 30_000);
