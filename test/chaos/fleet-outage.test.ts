// Issue 12's proof: a 10 s Redis stall and a kill under 3 processes (default policy) never multiply a quota or a spend cap.
import { redisStore } from '../../lib';
import type { SpendAlert } from '../../lib';
import { billedNanos, meterScope, USD } from '../costMeter/money';
import { billedTokens, callsOf, sendAs, startFleetRig, type Exchange, type FleetRig } from './fleet';
import { getJson, readMarker, startWorkers, stopWorkers, sumBy, workersQuiet, type Worker } from './harness';
import { until } from '../helpers/until';
import { chaosScopes } from './scopes';

const PROCESSES = 3;
const QUOTA = 10_000;
const USERS = ['ana', 'ben', 'cleo', 'dev'];
/** Share of each quota spent before the outage. */
const PRE_SPENT = 0.65;
/** The hourly hard cap: ~70 % spent before the outage (4 users × 6,500 tokens ≈ $0.19); it binds only if the fallback overspends. */
const CAP_USD = 0.27;
const ALERTS_USD = [0.05, 0.1, 0.15, 0.2, 0.22, 0.24, 0.26];
/** Short leases, so that a reservation whose reply a kill swallowed (R7) is reclaimed within the test. */
const CALL_TIMEOUT_MS = 3_000;
const LEASE_MARGIN_MS = 1_000;
/** How long the upstream holds the calls sent just before the outage. */
const SLOW_CALL_MS = 1_500;
const SCOPES = chaosScopes({ default: QUOTA });
/** The feature's output cap. */
const MAX_OUTPUT = 40;
/**
 * Every answer the budgets document here: status → error types (none for a 200). Not `global_rate_limited`: the
 * global TPM limit is 10^12 tokens, which this traffic cannot reach, so that answer would be a false refusal.
 */
const DOCUMENTED: Record<number, readonly string[]> = {
  200: [],
  429: ['user_quota_exceeded'],
  502: ['upstream_error'],
  503: ['budget_unavailable', 'spend_cap_reached', 'upstream_rate_limited'],
  504: ['upstream_timeout'],
};

let rig: FleetRig;
beforeAll(async () => void (rig = await startFleetRig()), 60_000);
afterAll(async () => rig?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const HOUR_MS = 3_600_000;
/** One attack's run, with room to spare: its spend and alerts must fall in one hourly window. */
const ATTACK_MS = 40_000;

describe.each([
  { attack: 'stall', outage: 'SIGSTOP for 10 s', outageMs: 10_000 },
  { attack: 'kill', outage: 'SIGKILL, restarted after 7 s (AOF always)', outageMs: 7_000 },
])('Redis $outage under load, 3 processes, default policy', ({ attack, outageMs }) => {
  const users = USERS.map((u) => `${attack}-${u}`);
  const prefix = `${attack}:`;
  const exchanges: Exchange[] = [];
  let workers: Worker[] = [];
  let outageAt = 0;
  let recoveredAt = 0;
  let billedByUser = new Map<string, number>();
  let billedSpend = 0;

  beforeAll(async () => {
    // The cap and the alerts are hourly: an attack that straddled the hour would be judged on two windows.
    const leftInHour = HOUR_MS - (Date.now() % HOUR_MS);
    if (leftInHour < ATTACK_MS) await sleep(leftInHour + 100);
    workers = await startWorkers(PROCESSES, {
      REDIS_URL: rig.redis.url,
      UPSTREAM_URL: rig.upstream.baseURL,
      PREFIX: prefix,
      USER_LIMITS: JSON.stringify({ default: QUOTA }),
      MAX_OUTPUT: String(MAX_OUTPUT),
      COST_METER: JSON.stringify({ hourlyCapUsd: CAP_USD, hourlyAlertUsd: ALERTS_USD }),
      TIMEOUT_MS: String(CALL_TIMEOUT_MS),
      CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
      LEASE_MARGIN_MS: String(LEASE_MARGIN_MS),
    });
    const ports = workers.map((w) => w.port);
    // Each user spends most of the quota while Redis is healthy, through every process (each has seen every scope).
    await Promise.all(
      users.flatMap((user) =>
        ports.map(async (port) => {
          while (billedTokens(callsOf(rig.upstream, user)) < PRE_SPENT * QUOTA) {
            const e = await sendAs(port, user);
            exchanges.push(e);
            if (e.status !== 200) throw new Error(`pre-spend answered ${e.status} ${e.type}`);
          }
        }),
      ),
    );
    // Steady traffic: each user on each process, a request every ~150 ms (enough to exhaust what is left within the outage).
    let running = true;
    const loops = users.flatMap((user) =>
      ports.map(async (port) => {
        while (running) {
          exchanges.push(await sendAs(port, user));
          await sleep(150);
        }
      }),
    );
    // Calls the upstream holds across the start of the outage: reserved before it, settled while Redis is away
    // (the settle must be written when it is back, once, even if the stalled server also runs the first attempt).
    await sleep(200);
    const slow = users.flatMap((user) => ports.map((port) => sendAs(port, user, 'slow', SLOW_CALL_MS)));
    void Promise.all(slow).then((done) => exchanges.push(...done));
    await sleep(300);
    outageAt = performance.now();
    if (attack === 'stall') rig.redis.stop();
    else await rig.redis.kill();
    await sleep(outageMs);
    if (attack === 'stall') rig.redis.cont();
    else await rig.redis.restart();
    recoveredAt = performance.now();
    await sleep(3_000);
    running = false;
    await Promise.all([...loops, ...slow]);
    await rig.upstream.idle();
    await workersQuiet(workers);
    // Past every lease taken before or during the outage, one more request per user and process reclaims what is left (R7).
    await sleep(outageAt + outageMs + CALL_TIMEOUT_MS + LEASE_MARGIN_MS + 500 - performance.now());
    for (const user of users) for (const port of ports) exchanges.push(await sendAs(port, user));
    await rig.upstream.idle();
    await workersQuiet(workers);
    billedByUser = new Map(users.map((user) => [user, billedTokens(callsOf(rig.upstream, user))]));
    billedSpend = billedNanos(rig.upstream.calls.filter((call) => users.includes(readMarker(call.request)?.user ?? '')));
    const statuses = sumBy(
      exchanges,
      (e) => `${e.status}${e.type ? ` ${e.type}` : ''}`,
      () => 1,
    );
    console.log(
      `${attack}: ${exchanges.length} requests (${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}); ` +
        `billed per user ${[...billedByUser.values()].join(', ')} on ${QUOTA}; spend $${billedSpend / USD} on cap $${CAP_USD}`,
    );
  }, 120_000 + ATTACK_MS);

  afterAll(async () => {
    await stopWorkers(workers);
  });

  /** When an exchange started: before the outage, during it, or after Redis was back. */
  const phaseOf = (e: Exchange) => (e.startedAt < outageAt ? 'before' : e.startedAt < recoveredAt ? 'during' : 'after');

  test('no process crashed; every answer is JSON with a documented status and type', () => {
    for (const { child } of workers)
      expect({ exitCode: child.exitCode, signal: child.signalCode }).toEqual({ exitCode: null, signal: null });
    const undocumented = exchanges.filter(
      (e) => !e.json || !(e.status in DOCUMENTED) || (e.status !== 200 && !DOCUMENTED[e.status]!.includes(e.type ?? '')),
    );
    // Summed by answer and phase, with the first and last start after the outage began (ms).
    const summary: Record<string, { count: number; firstMs: number; lastMs: number }> = {};
    for (const e of undocumented) {
      const at = Math.round(e.startedAt - outageAt);
      const entry = (summary[`${e.status} ${e.type ?? (e.json ? '' : 'not JSON')} ${phaseOf(e)}`] ??= {
        count: 0,
        firstMs: at,
        lastMs: at,
      });
      entry.count++;
      entry.lastMs = at;
    }
    expect(summary).toEqual({});
  });

  test('every user: tokens billed by the upstream ≤ the quota + R8’s bound, before and after Redis’s return, and the quota was contested', () => {
    // Billed by the phase the request started in, so that an overspend shows where it came from.
    const byId = new Map(exchanges.map((e) => [e.id, e]));
    const billed = users.map((user) => {
      const byPhase = sumBy(
        callsOf(rig.upstream, user),
        (call) => phaseOf(byId.get(readMarker(call.request)!.id)!),
        (call) => call.usage?.total_tokens ?? 0,
      );
      const untilBack = (byPhase.get('before') ?? 0) + (byPhase.get('during') ?? 0);
      return { user, untilBack, total: billedByUser.get(user) ?? 0, byPhase: Object.fromEntries(byPhase) };
    });
    console.log(JSON.stringify(billed));
    // R8's bound: each process shares what was left when it last saw the scope, so what the others were granted
    // after that is not in its figure. Each process has one call per user in flight at a time here: at most one
    // reservation (input + output cap) of each other process.
    const maxReservation = Math.max(...rig.upstream.calls.map((call) => call.promptTokens)) + MAX_OUTPUT;
    const bound = QUOTA + (PROCESSES - 1) * maxReservation;
    // Until Redis was back, and after: the recovery keeps each process to its share until the others handed back.
    expect(billed.filter((b) => b.untilBack > bound || b.total > bound)).toEqual([]);
    // The quota was really contested: each user was refused for it once the outage had begun.
    const neverRefused = users.filter(
      (user) =>
        !exchanges.some((e) => e.user === user && e.startedAt > outageAt && e.status === 429 && e.type === 'user_quota_exceeded'),
    );
    expect(neverRefused).toEqual([]);
  });

  test('spend billed ≤ the hourly cap', () => {
    expect(billedSpend).toBeLessThanOrEqual(CAP_USD * USD);
  });

  test("after recovery the store holds the upstream's bill (user counters, hourly spend, settled :spent)", async () => {
    const store = redisStore(rig.client, { prefix });
    // R7: a reservation whose reply the kill swallowed stays charged at its input (at most one per request in flight then).
    const inFlightAtKill = (user?: string) =>
      attack === 'kill'
        ? exchanges.filter(
            (e) =>
              (!user || e.user === user) &&
              e.behaviour === 'reply' &&
              e.startedAt > outageAt - 1_000 &&
              e.startedAt < outageAt &&
              e.endedAt > outageAt,
          ).length
        : 0;
    const maxInput = Math.max(...rig.upstream.calls.map((call) => call.promptTokens));
    const drift: Record<string, { stored: number; billed: number; slack: number }> = {};
    for (const user of users) {
      const stored = (await store.usage(SCOPES.user(user))).used;
      drift[user] = { stored, billed: billedByUser.get(user)!, slack: inFlightAtKill(user) * maxInput };
    }
    const hour = meterScope('hour');
    // gpt-4o: 2,500 nano-USD per input token.
    const spendSlack = inFlightAtKill() * maxInput * 2_500;
    drift.spend = { stored: (await store.usage(hour)).used, billed: billedSpend, slack: spendSlack };
    drift.spent = { stored: (await store.spentAt!(hour, [Date.now()]))[0]!, billed: billedSpend, slack: spendSlack };
    console.log(`${attack}: store vs bill ${JSON.stringify(drift)}`);
    const wrong = Object.entries(drift).filter(([, d]) => d.stored < d.billed || d.stored > d.billed + d.slack);
    expect(wrong).toEqual([]);
  });

  test('every hourly threshold the spend passed alerted exactly once, across the processes; none above it', async () => {
    const raised = async () => (await Promise.all(workers.map((w) => getJson<SpendAlert[]>(w.port, '/alerts')))).flat();
    // Spend handed back after the outage alerts outside any request: wait until the alerts stay the same for 1 s.
    let seen = -1;
    let sameSince = performance.now();
    await until(
      async () => {
        const count = (await raised()).length;
        if (count !== seen) [seen, sameSince] = [count, performance.now()];
        return performance.now() - sameSince > 1_000;
      },
      { everyMs: 25, timeoutMs: 10_000 },
    ).catch(() => undefined);
    const counts = sumBy(
      (await raised()).filter((a) => a.kind === 'threshold' && a.window === 'hour'),
      (a) => String(a.thresholdUsd),
      () => 1,
    );
    const expected = ALERTS_USD.map((usd) => [usd, billedSpend >= usd * USD ? 1 : 0]);
    expect(ALERTS_USD.map((usd) => [usd, counts.get(String(usd)) ?? 0])).toEqual(expected);
  });
});
