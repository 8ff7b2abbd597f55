// Hostile bodies and hostile user ids against the memory store and Redis: no 5xx, no crash, JSON refusals, a free event loop.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express, { type Request } from 'express';
import fc from 'fast-check';
import OpenAI from 'openai';
import { createClient } from 'redis';
import { createTokenBudget, redisStore, type TokenBudget } from '../../lib';
import { featureScopeKey, globalScopeKey, userScopeKey } from '../../lib/store/keys';
import type { Store } from '../../lib/store/types';
import { spawnApp } from '../helpers/child-app';
import { startRedis, type RedisServer } from '../helpers/redis';
import { stopWorkers, type Worker } from './harness';
import { BODY_LIMIT, decodeUserId, encodeUserId, hostileRequest, ROUTES, type HostileRequest } from './hostile-bodies';

const BODIES = 10_000;
const SEED = 20_260_611;
/**
 * The longest the event loop may be held, ms. The target is 50 ms per request
 * (`bench/event-loop.ts`); this bound is generous because the test's own client and its
 * 10,000 requests run in this process: on a quiet 2-core machine the worst pause measured
 * 137–201 ms (the garbage of the ~1 MB bodies), so 200 failed one run in three.
 */
const LOOP_BOUND_MS = 300;
/** Every `error.type` the docs document (docs/reference/errors.md). */
const DOCUMENTED_TYPES = new Set([
  'invalid_request',
  'user_required',
  'principal_required',
  'input_too_large',
  'feature_quota_exceeded',
  'user_quota_exceeded',
  'quota_exceeded',
  'global_rate_limited',
  'spend_cap_reached',
  'feature_disabled',
  'budget_unavailable',
  'upstream_rate_limited',
  'upstream_error',
  'upstream_timeout',
]);
const ERROR_KEYS = new Set(['type', 'message', 'scope', 'limit', 'remaining', 'reset_at']);

interface BodiesApp {
  port: number;
  budget: TokenBudget;
  close(): Promise<void>;
}

/** The app under test, in this process (its event loop is the one measured); the upstream runs in its own. */
async function startBodiesApp(upstreamURL: string, store: Store | undefined): Promise<BodiesApp> {
  const budget = createTokenBudget({
    features: {
      chat: { maxInput: 4_000, maxOutput: 200, model: 'gpt-4o' },
      trunc: { maxInput: 4_000, maxOutput: 200, model: 'gpt-4o', onExceed: 'truncate' },
      // As much input as the model's context window takes.
      big: { maxInput: 127_000, maxOutput: 1_000, model: 'gpt-4o' },
    },
    ...(store ? { store } : {}),
    onWarning: () => {},
    onStoreError: () => {},
  });
  budget.warmup();
  const client = new OpenAI({ apiKey: 'offline', baseURL: upstreamURL, maxRetries: 0 });
  const app = express();
  app.use(express.json({ limit: BODY_LIMIT }));
  const quota = budget.userQuota({ user: (req: Request) => decodeUserId(req.get('x-user-json')), limits: 1e12 });
  const tpm = budget.globalTpm({ limit: 1e12 });
  for (const route of ROUTES) app.post(route, budget.featureBudget(route.slice(1)), quota, tpm, budget.llmHandler({ client }));
  app.use(budget.errorHandler());
  // 10 KB user ids travel in a header.
  const server = http.createServer({ maxHeaderSize: 64 * 1024 }, app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    budget,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
}

/** The answer, or undefined when the connection failed before one arrived. */
async function send(port: number, request: HostileRequest): Promise<Answer | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${request.route}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
    });
    return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
  } catch {
    return undefined;
  }
}

/** Why an answer breaks the contract, or undefined. */
function contractBreach(answer: Answer | undefined): string | undefined {
  if (!answer) return 'no answer (connection failed)';
  if (answer.status >= 500) return `status ${answer.status}`;
  if (!/^application\/json/.test(answer.contentType ?? '')) return `content-type ${answer.contentType}`;
  let body: { error?: Record<string, unknown>; choices?: unknown };
  try {
    body = JSON.parse(answer.text) as typeof body;
  } catch {
    return 'body is not JSON';
  }
  if (answer.status === 200) return Array.isArray(body.choices) ? undefined : '200 without choices';
  const error = body.error;
  if (!error || Object.keys(body).length !== 1) return 'not { error }';
  if (typeof error.type !== 'string' || !DOCUMENTED_TYPES.has(error.type)) return `undocumented type ${String(error.type)}`;
  if (typeof error.message !== 'string') return 'no message';
  const extra = Object.keys(error).filter((key) => !ERROR_KEYS.has(key));
  return extra.length > 0 ? `undocumented keys ${extra.join(', ')}` : undefined;
}

let redis: RedisServer;
let redisClient: ReturnType<typeof createClient>;
let upstream: Worker;
const apps: Record<string, BodiesApp> = {};
const crashes: unknown[] = [];
const onCrash = (err: unknown) => crashes.push(err);

beforeAll(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  upstream = await spawnApp(require.resolve('./upstream-process.ts'), {});
  const upstreamURL = `http://127.0.0.1:${upstream.port}/v1`;
  redis = await startRedis();
  redisClient = createClient({ url: redis.url });
  redisClient.on('error', () => {});
  await redisClient.connect();
  apps.memory = await startBodiesApp(upstreamURL, undefined);
  apps.Redis = await startBodiesApp(upstreamURL, redisStore(redisClient, { prefix: 'bodies:' }));
}, 60_000);

afterAll(async () => {
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
  await Promise.all(Object.values(apps).map((app) => app.close()));
  await redisClient?.close().catch(() => {});
  await redis?.close();
  await stopWorkers(upstream ? [upstream] : []);
});

/** What was being served when, so that a stall of the event loop can be traced to the bodies in flight. */
interface Served {
  label: string;
  route: string;
  startedAt: number;
  endedAt: number;
}

/** Stalls of the event loop longer than `thresholdMs`, seen by a 10 ms interval timer. */
function stallRecorder(thresholdMs: number) {
  const stalls: Array<{ fromMs: number; toMs: number }> = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > thresholdMs) stalls.push({ fromMs: last, toMs: now });
    last = now;
  }, 10);
  return { stalls, stop: () => clearInterval(timer) };
}

/** Sends `requests` to both apps, 8 at a time; returns the breaches found. */
async function sendAll(requests: readonly HostileRequest[], served: Served[] = []) {
  const breaches: Array<{ store: string; label: string; route: string; breach: string; text: string }> = [];
  let next = 0;
  const lane = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      for (const [store, app] of Object.entries(apps)) {
        const startedAt = performance.now();
        const answer = await send(app.port, request);
        served.push({ label: `${store} ${request.label}`, route: request.route, startedAt, endedAt: performance.now() });
        const breach = contractBreach(answer);
        if (breach)
          breaches.push({ store, label: request.label, route: request.route, breach, text: answer?.text.slice(0, 200) ?? '' });
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return breaches;
}

test(`${BODIES} property-based bodies: 0 5xx, 0 crashes, JSON refusals of the documented shape, event loop never held > ${LOOP_BOUND_MS} ms`, async () => {
  /** The worst maximum and the worst 99th percentile of the chunks, ns. */
  let maxNs = 0;
  let p99Ns = 0;
  const breaches: Awaited<ReturnType<typeof sendAll>> = [];
  const served: Served[] = [];
  const stalls: Array<{ fromMs: number; toMs: number }> = [];
  const CHUNK = 500;
  for (let chunk = 0; chunk * CHUNK < BODIES; chunk++) {
    // Generated while the monitors are off: building a 1 MB body is the client's work, not the app's.
    const requests = fc.sample(hostileRequest, { seed: SEED + chunk, numRuns: Math.min(CHUNK, BODIES - chunk * CHUNK) });
    // A monitor per chunk: one that is disabled and enabled again counts the pause as a delay.
    const monitor = monitorEventLoopDelay({ resolution: 10 });
    const recorder = stallRecorder(LOOP_BOUND_MS / 2);
    monitor.enable();
    breaches.push(...(await sendAll(requests, served)));
    monitor.disable();
    recorder.stop();
    maxNs = Math.max(maxNs, monitor.max);
    p99Ns = Math.max(p99Ns, monitor.percentile(99));
    stalls.push(...recorder.stalls);
  }
  const maxMs = maxNs / 1e6;
  console.log(
    `${BODIES} bodies × 2 stores: event loop delay p99 ${(p99Ns / 1e6).toFixed(1)} ms (worst chunk), max ${maxMs.toFixed(1)} ms`,
  );
  // The longest stalls, with the requests being served meanwhile: where to look when the bound is broken.
  const worst = stalls.sort((a, b) => b.toMs - b.fromMs - (a.toMs - a.fromMs)).slice(0, 3);
  for (const stall of worst) {
    const during = served.filter((s) => s.startedAt < stall.toMs && s.endedAt > stall.fromMs).map((s) => `${s.route} ${s.label}`);
    console.log(`stall of ${Math.round(stall.toMs - stall.fromMs)} ms while serving: ${during.join('; ')}`);
  }
  expect(crashes).toEqual([]);
  expect({ count: breaches.length, first: breaches.slice(0, 5) }).toEqual({ count: 0, first: [] });
  expect(maxMs).toBeLessThan(LOOP_BOUND_MS);
}, 600_000);

describe('the worst single pieces of issue 6 hold the event loop only briefly', () => {
  const letters = (n: number) => {
    let seed = 1;
    return Array.from({ length: n }, () => String.fromCharCode(97 + ((seed = (seed * 48271) % 2147483647) % 26))).join('');
  };
  const cases: Array<[string, () => string]> = [
    ['600 KB of spaces and tabs', () => ' \t'.repeat(300_000)],
    ['600 KB of "-*="', () => '-*='.repeat(200_000)],
    ['1,000,000 random letters', () => letters(1_000_000)],
    ['1,000,000 × "a"', () => 'a'.repeat(1_000_000)],
    ['330,000 CJK characters', () => '字'.repeat(330_000)],
    ['900 KB of digits', () => '1234567890'.repeat(90_000)],
  ];
  test.each(cases.flatMap(([name, text]) => ROUTES.map((route) => [name, route, text] as const)))(
    '%s on %s',
    async (_name, route, text) => {
      const body = JSON.stringify({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: text() },
        ],
      });
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      for (const app of Object.values(apps)) {
        const answer = await send(app.port, {
          route,
          headers: { 'content-type': 'application/json', 'x-user-json': encodeUserId('alice') },
          body,
          label: '',
        });
        expect(contractBreach(answer)).toBeUndefined();
      }
      loop.disable();
      expect(loop.max / 1e6).toBeLessThan(LOOP_BOUND_MS);
    },
  );

  test('a 900 KB tool-call id is counted (413), not waved through', async () => {
    const body = JSON.stringify({
      messages: [
        { role: 'user', content: 'Look it up.' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: letters(900_000), type: 'function', function: { name: 'lookup', arguments: '{}' } }],
        },
        { role: 'user', content: 'And?' },
      ],
    });
    for (const app of Object.values(apps)) {
      const answer = await send(app.port, {
        route: '/chat',
        headers: { 'content-type': 'application/json', 'x-user-json': encodeUserId('alice') },
        body,
        label: '',
      });
      expect(answer?.status).toBe(413);
    }
  });
});

describe('hostile user ids never share a counter (a number and its decimal string are one id)', () => {
  const explicit: Array<string | number> = [
    'alice',
    'Alice',
    'alice ',
    ' alice',
    'u=alice',
    'h=alice',
    'a:b',
    'a',
    'b',
    'a:{b}',
    '{a}:b',
    '{a}',
    'a}:{b',
    'a\nb',
    'a\r\nb',
    'a\u0000b',
    '\ud800',
    '\udc00',
    '\ufffd',
    '\ud83d\ude00',
    'e\u0301',
    '\u00e9',
    'x'.repeat(10_000),
    `${'x'.repeat(9_999)}y`,
    1,
    '1',
    '01',
    1.5,
    '1.5',
    -1,
    '-1',
    'anonymous',
    'a:{anonymous}:day',
    'chat',
    'tpm',
    'f:{chat}',
    'g:{tpm}',
  ];
  const generated = fc.sample(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.integer()), {
    seed: SEED,
    numRuns: 200,
  });
  const ids = [...new Set([...explicit, ...generated])];
  /** Ids that must share a counter: a number and its decimal string. */
  const counterOf = (id: string | number) => String(id);

  test.each(['memory', 'Redis'])('%s store', async (store) => {
    const app = apps[store]!;
    // Counters start where earlier tests left them (the fuzzed bodies use a few of these ids too).
    const totals = new Map<string, number>();
    for (const id of ids)
      if (!totals.has(counterOf(id))) totals.set(counterOf(id), (await app.budget.usage.user(counterOf(id))).used);
    for (const id of ids) {
      const answer = await send(app.port, {
        route: '/chat',
        headers: { 'content-type': 'application/json', 'x-user-json': encodeUserId(id) },
        body: JSON.stringify({ messages: [{ role: 'user', content: `count me ${ids.indexOf(id)}` }] }),
        label: '',
      });
      expect(answer?.status).toBe(200);
      const total = (JSON.parse(answer!.text) as { usage: { total_tokens: number } }).usage.total_tokens;
      totals.set(counterOf(id), totals.get(counterOf(id))! + total);
    }
    const wrong: Array<{ id: string; used: number; expected: number }> = [];
    for (const [id, expected] of totals) {
      const { used } = await app.budget.usage.user(id);
      if (used !== expected) wrong.push({ id: JSON.stringify(id).slice(0, 60), used, expected });
    }
    expect(wrong).toEqual([]);
  });

  test('10,000 random pairs of ids: distinct ids, distinct keys, never another scope kind', () => {
    const id = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('a', 'u=a', 'h=a', '{a}', 'a:b'));
    const others = new Set([featureScopeKey('chat'), globalScopeKey('tpm'), 'a:{anonymous}:day']);
    fc.assert(
      fc.property(id, id, (a, b) => {
        if (a === '' || b === '') return;
        const [ka, kb] = [userScopeKey(a, 'day'), userScopeKey(b, 'day')];
        expect(ka === kb).toBe(a === b);
        expect(others.has(ka)).toBe(false);
      }),
      { seed: SEED, numRuns: 10_000 },
    );
  });
});
