// The ledger: thousands of chaotic calls, streamed or not, summarized or downgraded, then every user's usage equals what the upstream's records say was charged, summary calls included (0 drift; abandoned streams within their stated margin, never below the bill).
import { createClient } from 'redis';
import OpenAI from 'openai';
import request from 'supertest';
import { redisStore } from '../../lib';
import { STREAM_IN_FLIGHT_MARGIN } from '../../lib/context';
import { SUMMARY_HEADING } from '../../lib/degrade/summarize';
import type { ScopeRequest } from '../../lib/store/types';
import { startOfflineUpstream, type OfflineUpstream, type UpstreamCall } from '../../lib/testing';
import { startTestApp } from '../helpers/app';
import { startRedis, type RedisServer } from '../helpers/redis';
import {
  BEHAVIOURS,
  expectedCharge,
  getJson,
  isStreamed,
  isSummaryCall,
  readMarker,
  stageFromMarker,
  startWorkers,
  stopWorkers,
  sumBy,
  workersQuiet,
  type Worker,
} from './harness';
import { until } from '../helpers/until';
import { ASSIST, chaosScopes, slowClock } from './scopes';
import { documentedAnswer, sendTraffic, type ChaosUser, type Route, type SentRequest } from './traffic';

const USERS: ChaosUser[] = [
  { id: 'ana', tier: 'free' },
  { id: 'ben', tier: 'pro' },
  { id: 'chloe', tier: 'pro' },
  { id: 'dev', tier: 'pro' },
  { id: 'eve', tier: 'pro' },
  { id: 'farid', tier: 'pro' },
  { id: 'gus', tier: 'mid' },
];
/**
 * ana runs out mid-run: refusals and shrinking caps are part of the mix. ana and gus pass
 * /assist's downgrade threshold: their calls there go to the cheaper model from then on.
 */
const LIMITS = { free: 6_000, mid: 100_000, pro: 10_000_000 };
const SCOPES = chaosScopes(LIMITS);
/** llmHandler's time-out: ten times the slowest staged delay. */
const TIMEOUT_MS = 2_000;
/** The feature's output cap: streams of up to 60 tokens, longer than the in-flight margin. */
const MAX_OUTPUT = 80;
/** The store clock runs 20× slower, so the one-minute TPM window holds the whole run. */
const CLOCK_RATE = 20;

/** The calls the routes made, not their summaries: one per request at most. */
const routeCalls = (calls: readonly UpstreamCall[]) => calls.filter((call) => !isSummaryCall(call));

/**
 * What the counters must hold, at least and at most: every upstream call's charge, summary
 * calls included (counted in the same user, feature and global budgets as their request), by
 * user, by feature and in total. Exact for every call but streams whose client left, which count from the
 * upstream's bill up to `STREAM_IN_FLIGHT_MARGIN` tokens above it (R10); a stream left
 * before its request reached the upstream may have been charged its input + the margin
 * (the route cannot know that nothing was sent).
 */
function expectedLedger(calls: readonly UpstreamCall[], sent: readonly SentRequest[], bound: 0 | 1): Ledger {
  const left = new Set(sent.filter((r) => r.abandoned).map((r) => r.marker.id));
  const routeOf = new Map(sent.map((r) => [r.marker.id, r.route]));
  const reached = new Set(routeCalls(calls).map((call) => readMarker(call.request)!.id));
  const charges = [
    ...calls.map((call) => {
      const { id, user } = readMarker(call.request)!;
      return { user, route: routeOf.get(id)!, tokens: expectedCharge(call, left.has(id))[bound] };
    }),
    ...sent
      .filter((r) => r.stream && r.abandoned && !reached.has(r.marker.id))
      .map((r) => ({
        user: r.marker.user,
        route: r.route,
        tokens: bound === 0 ? 0 : r.promptTokens + STREAM_IN_FLIGHT_MARGIN,
      })),
  ];
  const charged = sumBy(
    charges,
    (c) => c.user,
    (c) => c.tokens,
  );
  const byRoute = sumBy(
    charges,
    (c) => c.route,
    (c) => c.tokens,
  );
  const total = charges.reduce((sum, c) => sum + c.tokens, 0);
  return {
    byUser: Object.fromEntries(USERS.map((u) => [u.id, charged.get(u.id) ?? 0])),
    chat: byRoute.get('chat') ?? 0,
    assist: byRoute.get('assist') ?? 0,
    global: total,
  };
}

/** The counters outside `[least, most]`: every user, each feature and the TPM window. */
function outside(actual: Ledger, least: Ledger, most: Ledger) {
  const figure = (ledger: Ledger, scope: string) =>
    scope === 'chat' || scope === 'assist' || scope === 'global' ? ledger[scope] : ledger.byUser[scope.slice('user '.length)]!;
  return ['chat', 'assist', 'global', ...USERS.map((u) => `user ${u.id}`)]
    .map((scope) => ({ scope, least: figure(least, scope), actual: figure(actual, scope), most: figure(most, scope) }))
    .filter(({ least: low, actual: used, most: high }) => used < low || used > high);
}

/** The counters: by user, by feature (named after its route) and the TPM window. */
type Ledger = { byUser: Record<string, number>; global: number } & Record<Route, number>;

describe.each([
  { name: 'Redis shared by 2 processes', store: 'redis', processes: 2, requests: 3_000, seed: 6 },
  { name: 'the memory store in 1 process', store: 'memory', processes: 1, requests: 1_500, seed: 7 },
])('chaos over $name', ({ name, store, processes, requests, seed }) => {
  let upstream: OfflineUpstream;
  let redis: RedisServer | undefined;
  let redisClient: ReturnType<typeof createClient> | undefined;
  let workers: Worker[] = [];
  let sent: SentRequest[] = [];
  let readLedger: () => Promise<Ledger>;

  beforeAll(async () => {
    // Streams send a chunk every 3 ms, up to 60 of them (more than the in-flight margin), so that hang-ups land mid-stream.
    upstream = await startOfflineUpstream({
      behave: stageFromMarker,
      chunkIntervalMs: 3,
      completionTokens: (req, cap) => Math.min(cap, req.body.stream === true ? 60 : 24),
    });
    const clockT0 = Date.now();
    const env = {
      STORE: store,
      UPSTREAM_URL: upstream.baseURL,
      TIMEOUT_MS: String(TIMEOUT_MS),
      CALL_TIMEOUT_MS: String(TIMEOUT_MS),
      USER_LIMITS: JSON.stringify(LIMITS),
      CLOCK_T0: String(clockT0),
      CLOCK_RATE: String(CLOCK_RATE),
      PREFIX: 'ledger:',
      MAX_OUTPUT: String(MAX_OUTPUT),
    };
    if (store === 'redis') {
      redis = await startRedis();
      redisClient = createClient({ url: redis.url });
      redisClient.on('error', () => {});
      await redisClient.connect();
      const reader = redisStore(redisClient, { prefix: 'ledger:', now: slowClock(clockT0, CLOCK_RATE) });
      const used = async (scope: ScopeRequest) => (await reader.usage(scope)).used;
      readLedger = async () => ({
        byUser: Object.fromEntries(await Promise.all(USERS.map(async (u) => [u.id, await used(SCOPES.user(u.id, u.tier))]))),
        chat: await used(SCOPES.feature),
        assist: await used(SCOPES.assist),
        global: await used(SCOPES.global),
      });
    }
    workers = await startWorkers(processes, { ...env, ...(redis ? { REDIS_URL: redis.url } : {}) });
    if (store === 'memory') {
      const { port } = workers[0]!;
      readLedger = async () => {
        const reads = await Promise.all(
          USERS.map((u) =>
            getJson<{ user: number; feature: number; assist: number; global: number }>(
              port,
              `/usage?user=${u.id}&tier=${u.tier}`,
            ),
          ),
        );
        return {
          byUser: Object.fromEntries(USERS.map((u, i) => [u.id, reads[i]!.user])),
          chat: reads[0]!.feature,
          assist: reads[0]!.assist,
          global: reads[0]!.global,
        };
      };
    }

    const started = performance.now();
    sent = await sendTraffic({
      ports: workers.map((w) => w.port),
      users: USERS,
      requests,
      concurrency: 48,
      seed,
      disconnectRate: 0.2,
      maxDisconnectMs: 600,
      assistRate: 0.3,
    });
    // Calls left running by clients that hung up end by the time-out at the latest.
    await upstream.idle();
    await workersQuiet(workers);
    console.log(`${name}: ${requests} requests in ${Math.round(performance.now() - started)} ms`);
  }, 240_000);

  afterAll(async () => {
    await stopWorkers(workers);
    await redisClient?.close().catch(() => {});
    await redis?.close();
    await upstream?.close();
  });

  test('the traffic really was chaotic: every behaviour reached the upstream, clients hung up mid-call, a user ran out, /assist summarized and downgraded', () => {
    const staged = new Set(upstream.calls.map((call) => readMarker(call.request)?.behaviour));
    expect(staged.size).toBe(Object.keys(BEHAVIOURS).length);
    const reached = new Set(routeCalls(upstream.calls).map((call) => readMarker(call.request)!.id));
    const hungUpMidCall = sent.filter((r) => r.abandoned && reached.has(r.marker.id)).length;
    const streamsLeftMidStream = upstream.calls.filter(
      (call) => isStreamed(call) && call.outcome === 'client-gone' && call.sentTokens > 0,
    );
    const streamed = upstream.calls.filter(isStreamed).length;
    console.log(
      `${requests} requests: ${upstream.calls.length} upstream calls (${streamed} streamed), ${hungUpMidCall} clients hung up mid-call, ` +
        `${streamsLeftMidStream.length} streams stopped upstream mid-stream`,
    );
    expect(hungUpMidCall).toBeGreaterThan(20);
    expect(streamsLeftMidStream.length).toBeGreaterThan(20);
    expect(sent.some((r) => r.status === 429)).toBe(true);

    const summaries = upstream.calls.filter(isSummaryCall);
    const summarized = routeCalls(upstream.calls).filter((call) => JSON.stringify(call.request.body).includes(SUMMARY_HEADING));
    const downgraded = upstream.calls.filter((call) => call.request.body.model === ASSIST.downgradeTo);
    const downgradedUsers = new Set(downgraded.map((call) => readMarker(call.request)!.user));
    console.log(
      `/assist: ${sent.filter((r) => r.route === 'assist').length} requests, ${summaries.length} summary calls ` +
        `(${summaries.filter((call) => call.usage).length} billed), ${summarized.length} calls sent with a summary, ` +
        `${downgraded.length} downgraded to ${ASSIST.downgradeTo} (users ${[...downgradedUsers].sort().join(', ')})`,
    );
    expect(summaries.length).toBeGreaterThan(50);
    expect(summarized.length).toBeGreaterThan(20);
    expect(downgraded.length).toBeGreaterThan(10);
    // The users whose quota ran low.
    expect([...downgradedUsers]).toEqual(expect.arrayContaining(['ana', 'gus']));
  });

  test('every user, the feature and the TPM window are charged what the upstream records say: exact, and abandoned streams never below the bill', async () => {
    const least = expectedLedger(upstream.calls, sent, 0);
    const most = expectedLedger(upstream.calls, sent, 1);
    let actual = await readLedger();
    // A settlement may still be on its way; the ledger must converge into the range.
    await until(async () => outside((actual = await readLedger()), least, most).length === 0, { timeoutMs: 10_000 }).catch(
      () => 0,
    );
    const billed = upstream.calls.reduce((sum, call) => sum + (call.usage?.total_tokens ?? 0), 0);
    console.log(
      `store ${actual.global} tokens (/assist ${actual.assist}), allowed ${least.global}–${most.global}; above the least: ${actual.global - least.global} ` +
        `(the upstream billed ${billed} in all, reservations of failed calls included in the least)`,
    );
    expect(outside(actual, least, most)).toEqual([]);
  });

  test('each request reached the provider at most once, and its summary at most once (one attempt, whatever the client maxRetries)', () => {
    const attempts = sumBy(
      upstream.calls,
      (call) => `${readMarker(call.request)!.id}${isSummaryCall(call) ? ' summary' : ''}`,
      () => 1,
    );
    const retried = [...attempts].filter(([, n]) => n > 1).map(([id]) => id);
    expect(retried).toEqual([]);
  });

  test('by default a call outlives its client: only our time-out ends an exchange early', () => {
    // A stream its client left is stopped upstream (R10): nobody will read it.
    const givenUp = upstream.calls.filter(
      (call) => call.outcome === 'client-gone' && call.behaviour.kind !== 'hang' && !isStreamed(call),
    );
    expect(givenUp.map((call) => readMarker(call.request))).toEqual([]);
  });

  test('every answered request got the documented status and a JSON body', () => {
    const calls = routeCalls(upstream.calls);
    const reached = new Set(calls.map((call) => readMarker(call.request)!.id));
    // How each stream must end: an upstream_error event where the failure happened (a stream shorter than where
    // it was staged, by a shrinking cap, ends normally), upstream_timeout where our time-out stopped it (a slow, loaded run).
    const streamEnd = new Map(
      calls.map((c) => [
        readMarker(c.request)!.id,
        c.failedMidStream ? 'upstream_error' : c.outcome === 'client-gone' ? 'upstream_timeout' : undefined,
      ]),
    );
    const wrong = sent
      .filter((r) => !r.abandoned)
      .map((r) => {
        const answer = reached.has(r.marker.id) ? documentedAnswer(r.marker) : { status: 429, type: 'user_quota_exceeded' };
        const body = r.body as { error?: { type?: unknown; message?: unknown } } | undefined;
        const streamOk =
          /^text\/event-stream/.test(r.contentType ?? '') &&
          (streamEnd.get(r.marker.id)
            ? r.lastEvent?.errorType === streamEnd.get(r.marker.id)
            : // A Responses stream that filled its cap ends `response.incomplete`, as the API's does.
              r.lastEvent?.data === '[DONE]' ||
              r.lastEvent?.name === 'response.completed' ||
              r.lastEvent?.name === 'response.incomplete');
        // Our time-out may stop any exchange that lasted as long on a loaded machine; upstream_timeout is then its answer.
        const stoppedByOurTimeOut =
          (r.elapsedMs ?? 0) >= TIMEOUT_MS &&
          (r.lastEvent?.errorType === 'upstream_timeout' || (r.status === 504 && body?.error?.type === 'upstream_timeout'));
        const ok =
          stoppedByOurTimeOut ||
          (r.status === answer.status &&
            (answer.stream && answer.status === 200
              ? streamOk
              : /^application\/json/.test(r.contentType ?? '') &&
                (answer.status === 200
                  ? body?.error === undefined || body?.error === null
                  : body?.error?.type === answer.type && typeof body?.error?.message === 'string')));
        return ok
          ? undefined
          : {
              behaviour: r.marker.behaviour,
              route: r.route,
              expected: answer,
              status: r.status,
              body: r.body ?? r.rawBody ?? r.lastEvent,
            };
      })
      .filter((w) => w !== undefined);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  test("the upstream is told the app's user (one stable, non-raw id per user), never the body's `user`", () => {
    const claimed = upstream.calls.filter((call) => call.bodyUser === 'victim' || call.userId === 'victim');
    expect(claimed).toHaveLength(0);
    const idsByUser = new Map<string, Set<string | undefined>>();
    for (const call of upstream.calls) {
      const user = readMarker(call.request)!.user;
      idsByUser.set(user, (idsByUser.get(user) ?? new Set()).add(call.userId));
    }
    const identifiers = [...idsByUser].map(([user, ids]) => {
      const [id] = [...ids];
      return { user, count: ids.size, defined: typeof id === 'string', raw: id === user };
    });
    expect(identifiers).toEqual([...idsByUser.keys()].map((user) => ({ user, count: 1, defined: true, raw: false })));
    const distinct = new Set([...idsByUser.values()].map((ids) => [...ids][0]));
    expect(distinct.size).toBe(idsByUser.size);
  });
});

describe('a client that hangs up mid-call', () => {
  let upstream: OfflineUpstream;
  beforeAll(async () => {
    upstream = await startOfflineUpstream({ behave: () => ({ kind: 'delay', ms: 800 }), completionTokens: (_r, cap) => cap - 3 });
  });
  afterAll(() => upstream.close());

  /** Sends `n` requests of user `user` and hangs up on each once the upstream has it. */
  async function hangUpMidCall(worker: Worker, user: string, n: number): Promise<UpstreamCall[]> {
    const before = upstream.calls.length;
    const aborts = Array.from({ length: n }, () => new AbortController());
    const requests = aborts.map((abort, i) =>
      fetch(`http://127.0.0.1:${worker.port}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user': user },
        body: JSON.stringify({ messages: [{ role: 'user', content: `question ${i} of ${user}` }] }),
        signal: abort.signal,
      }).catch(() => undefined),
    );
    await until(() => upstream.calls.length === before + n, { timeoutMs: 15_000 });
    for (const abort of aborts) abort.abort();
    await Promise.all(requests);
    const calls = upstream.calls.slice(before);
    await Promise.all(calls.map((call) => call.ended));
    await workersQuiet([worker]);
    return calls;
  }

  const usedBy = async (worker: Worker, user: string) =>
    (await getJson<{ user: number }>(worker.port, `/usage?user=${user}`)).user;

  test("default ('finish'): the call runs to its end and its real usage is charged", async () => {
    const [worker] = await startWorkers(1, { STORE: 'memory', UPSTREAM_URL: upstream.baseURL, TIMEOUT_MS: '5000' });
    try {
      const calls = await hangUpMidCall(worker!, 'stays', 5);
      expect(calls.map((call) => call.outcome)).toEqual(Array(5).fill('answered'));
      const billed = calls.reduce((sum, call) => sum + call.usage!.total_tokens, 0);
      expect(await usedBy(worker!, 'stays')).toBe(billed);
    } finally {
      await stopWorkers([worker!]);
    }
  }, 30_000);

  test("onClientGone: 'abort': the call is aborted and the reservation is charged", async () => {
    const [worker] = await startWorkers(1, {
      STORE: 'memory',
      UPSTREAM_URL: upstream.baseURL,
      TIMEOUT_MS: '5000',
      ON_CLIENT_GONE: 'abort',
    });
    try {
      const calls = await hangUpMidCall(worker!, 'leaves', 5);
      expect(calls.map((call) => call.outcome)).toEqual(Array(5).fill('client-gone'));
      const reserved = calls.reduce((sum, call) => sum + call.promptTokens + call.cap!, 0);
      expect(await usedBy(worker!, 'leaves')).toBe(reserved);
    } finally {
      await stopWorkers([worker!]);
    }
  }, 30_000);
});

describe('one attempt per request, and a refused connection costs nothing', () => {
  const features = { chat: { maxInput: 200, maxOutput: 50, model: 'gpt-4o' } };

  test('run(call) hands the call a signal, a time-out and maxRetries: 0', async () => {
    let seen: unknown;
    const t = await startTestApp({
      budget: { features },
      chain: (b, client) => [
        b.featureBudget('chat'),
        async (req, res) => {
          const completion = await req.tokenBudget!.run((...args: unknown[]) => {
            seen = args[1];
            return client.chat.completions.create(args[0] as never, args[1] as never);
          });
          res.json(completion);
        },
      ],
    });
    try {
      expect(
        (
          await request(t.app)
            .post('/chat')
            .send({ messages: [{ role: 'user', content: 'Hi' }] })
        ).status,
      ).toBe(200);
      expect(seen).toMatchObject({ maxRetries: 0, timeout: expect.any(Number), signal: expect.any(AbortSignal) });
    } finally {
      await t.close();
    }
  });

  test('connection refused (nothing sent) → 502, released, even with the SDK default retries', async () => {
    const t = await startTestApp({
      budget: { features },
      users: true,
      chain: (b) => [
        b.featureBudget('chat'),
        b.userQuota({ user: (req) => req.get('x-test-user'), limits: 1000 }),
        b.llmHandler({ client: new OpenAI({ apiKey: 'offline', baseURL: refusingUpstream.baseURL }) }),
      ],
    });
    try {
      const res = await request(t.app)
        .post('/chat')
        .set('x-test-user', 'refused')
        .send({ messages: [{ role: 'user', content: 'Hi' }] });
      expect(res.status).toBe(502);
      expect(res.body.error.type).toBe('upstream_error');
      expect((await t.budget.usage.user('refused')).used).toBe(0);
    } finally {
      await t.close();
    }
  }, 30_000);
});

/** An upstream that was started and closed: its port refuses connections. */
let refusingUpstream: { baseURL: string };
beforeAll(async () => {
  const closed = await startOfflineUpstream();
  await closed.close();
  refusingUpstream = { baseURL: closed.baseURL };
});
