// The HTTP scenarios of the budgets, one table run on Express 5, Koa 3 and Koa 2: refusals, truncation, headers, streams, hang-ups, outages, usage.
import { STREAM_IN_FLIGHT_MARGIN } from '../../lib/context';
import { StoreUnavailableError, type Store } from '../../lib';
import { words } from '../helpers/app';
import { until } from '../helpers/until';
import {
  FRAMEWORKS,
  headerUser,
  startFrameworkApp,
  type FrameworkApp,
  type FrameworkAppOptions,
  type FrameworkName,
} from '../helpers/frameworks';

interface Answer {
  status: number;
  headers: Headers;
  body: { error?: { type: string; scope?: string }; choices?: unknown[]; used?: number; limit?: number; remaining?: number };
}

/** POSTs a chat body to the app's /chat as user `u1`. */
async function post(t: FrameworkApp, messages: unknown[]): Promise<Answer> {
  const res = await fetch(`${t.baseURL}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-test-user': 'u1' },
    body: JSON.stringify({ messages }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
}

const ask = (n: number) => [{ role: 'user', content: words(n) }];

const down = new StoreUnavailableError('down for the test');
const deadStore: Store = {
  reserve: () => Promise.reject(down),
  settle: () => Promise.reject(down),
  release: () => Promise.reject(down),
  usage: () => Promise.reject(down),
};

/** Streams a reply from the app through the openai SDK; `leaveAfter` chunks with text, the client hangs up. */
async function stream(t: FrameworkApp, leaveAfter = Infinity): Promise<string[]> {
  const leave = new AbortController();
  const reply = await t.routeClient.chat.completions.create(
    { model: 'ignored', stream: true, messages: [{ role: 'user', content: words(10) }] },
    { path: '/chat', signal: leave.signal, headers: { 'x-test-user': 'u1' } },
  );
  const texts: string[] = [];
  try {
    for await (const chunk of reply) {
      const text = chunk.choices[0]?.delta?.content;
      if (text) texts.push(text);
      if (texts.length === leaveAfter) leave.abort();
    }
  } catch (err) {
    if (!leave.signal.aborted) throw err;
  }
  return texts;
}

const userUsed = async (t: FrameworkApp) => (await t.budget.usage.user('u1')).used;

interface Scenario {
  app: FrameworkAppOptions;
  check(t: FrameworkApp): Promise<void>;
}

/** A chain whose user quota takes a store trip. */
const withQuota: FrameworkAppOptions['chain'] = (b, client) => [
  b.featureBudget('chat'),
  b.userQuota({ user: headerUser, limits: 1000 }),
  b.llmHandler({ client }),
];

/** How many requests reached the middleware mounted after llmHandler. */
let pastTheHandler = 0;

const SCENARIOS: Record<string, Scenario> = {
  'input over maxInput: 413 input_too_large, no call': {
    app: {},
    async check(t) {
      const res = await post(t, ask(300));
      expect(res.status).toBe(413);
      expect(res.body.error).toMatchObject({ type: 'input_too_large' });
      expect(t.upstream.calls).toHaveLength(0);
    },
  },
  'a user over the quota: 429 user_quota_exceeded with Retry-After and RateLimit headers': {
    app: {
      chain: (b, client) => [b.featureBudget('chat'), b.userQuota({ user: headerUser, limits: 5 }), b.llmHandler({ client })],
    },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(429);
      expect(res.body.error).toMatchObject({ type: 'user_quota_exceeded', scope: 'user' });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.headers.get('ratelimit-policy')).toBe('"user";q=5;w=86400');
      expect(t.upstream.calls).toHaveLength(0);
    },
  },
  'a team over its named quota: 429 quota_exceeded, scope "team"': {
    app: {
      chain: (b, client) => [
        b.featureBudget('chat'),
        b.quota({ name: 'team', key: headerUser, limits: 5 }),
        b.llmHandler({ client }),
      ],
    },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(429);
      expect(res.body.error).toMatchObject({ type: 'quota_exceeded', scope: 'team' });
      expect(res.headers.get('ratelimit-policy')).toBe('"team";q=5;w=86400');
      expect(t.upstream.calls).toHaveLength(0);
    },
  },
  "spend past costMeter's hourly cap: 503 spend_cap_reached, no call": {
    app: { chain: (b, client) => [b.featureBudget('chat'), b.costMeter({ hourlyCapUsd: 0.000001 }), b.llmHandler({ client })] },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ type: 'spend_cap_reached', scope: 'spend' });
      expect(t.upstream.calls).toHaveLength(0);
    },
  },
  'usageHandler: what the requester has left of its quota, uncached, with the quota in the RateLimit headers': {
    app: {
      chain: (b) => {
        b.userQuota({ user: headerUser, limits: 1000 });
        return [b.usageHandler()];
      },
    },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ used: 0, limit: 1000, remaining: 1000 });
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('ratelimit-policy')).toBe('"user";q=1000;w=86400');
      expect(t.upstream.calls).toHaveLength(0);
    },
  },
  'over the global tokens per minute: 429 global_rate_limited': {
    app: { chain: (b, client) => [b.featureBudget('chat'), b.globalTpm({ limit: 5 }), b.llmHandler({ client })] },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(429);
      expect(res.body.error).toMatchObject({ type: 'global_rate_limited', scope: 'global' });
      expect(t.upstream.calls).toHaveLength(0);
    },
  },
  'a feature switched off: 503 feature_disabled': {
    app: { chain: (b, client) => [b.featureFlag('chat'), b.featureBudget('chat'), b.llmHandler({ client })] },
    async check(t) {
      await t.budget.flags.set('chat', false);
      const res = await post(t, ask(10));
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ type: 'feature_disabled' });
    },
  },
  'truncation: the oldest turns go, the newest user message reaches the model': {
    app: { chain: (b, client) => [b.featureBudget('chat', { onExceed: 'truncate' }), b.llmHandler({ client })] },
    async check(t) {
      const turns = Array.from({ length: 7 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: words(50, `w${i}`) }));
      const res = await post(t, turns);
      expect(res.status).toBe(200);
      const sent = t.upstream.calls[0]!.request.body.messages as { content: string }[];
      expect(sent.length).toBeLessThan(7);
      expect(sent.at(-1)!.content).toBe(turns.at(-1)!.content);
      expect(t.upstream.calls[0]!.promptTokens).toBeLessThanOrEqual(200);
    },
  },
  'a served request: RateLimit headers, and the quota charged exactly what the provider billed': {
    app: {
      chain: (b, client) => [b.featureBudget('chat'), b.userQuota({ user: headerUser, limits: 1000 }), b.llmHandler({ client })],
    },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(200);
      expect(res.body.choices).toHaveLength(1);
      expect(res.headers.get('ratelimit-policy')).toBe('"user";q=1000;w=86400');
      // The head is written before the settle: it shows what was left after the reservation.
      expect(res.headers.get('ratelimit')).toMatch(/^"user";r=\d+;t=\d+$/);
      await until(async () => (await userUsed(t)) > 0);
      expect(await userUsed(t)).toBe(t.upstream.billedTokens());
    },
  },
  'a stream through the openai SDK: every chunk, settled at what the provider billed': {
    app: {
      upstream: { completionTokens: () => 20 },
      chain: (b, client) => [b.featureBudget('chat'), b.userQuota({ user: headerUser, limits: 1000 }), b.llmHandler({ client })],
    },
    async check(t) {
      const texts = await stream(t);
      expect(texts).toHaveLength(20);
      await until(async () => (await userUsed(t)) > 0);
      expect(await userUsed(t)).toBe(t.upstream.billedTokens());
    },
  },
  'a client that hangs up mid-stream: the call stops upstream and is charged what was sent, within the margin': {
    app: {
      upstream: { completionTokens: () => 90, chunkIntervalMs: 15 },
      chain: (b, client) => [b.featureBudget('chat'), b.userQuota({ user: headerUser, limits: 1000 }), b.llmHandler({ client })],
    },
    async check(t) {
      await stream(t, 5);
      await t.upstream.idle();
      const [call] = t.upstream.calls;
      expect(call!.outcome).toBe('client-gone');
      expect(call!.sentTokens).toBeLessThan(90);
      await until(async () => (await userUsed(t)) > 0);
      const used = await userUsed(t);
      expect(used).toBeGreaterThanOrEqual(call!.promptTokens + call!.sentTokens);
      expect(used).toBeLessThanOrEqual(call!.promptTokens + call!.sentTokens + STREAM_IN_FLIGHT_MARGIN);
    },
  },
  'llmHandler ends the route: a middleware after it is not run': {
    app: {
      chain: (b, client) => [
        b.featureBudget('chat'),
        b.llmHandler({ client }),
        () => {
          pastTheHandler++;
        },
      ],
    },
    async check(t) {
      pastTheHandler = 0;
      expect((await post(t, ask(10))).status).toBe(200);
      expect(pastTheHandler).toBe(0);
    },
  },
  'store down, fail-closed: 503 budget_unavailable with Retry-After, no call': {
    app: { budget: { store: deadStore, onStoreUnavailable: 'fail-closed' }, chain: withQuota },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ type: 'budget_unavailable' });
      expect(res.headers.get('retry-after')).toBe('1');
      expect(t.upstream.calls).toHaveLength(0);
    },
  },
  'store down, fail-open: served': {
    app: { budget: { store: deadStore, onStoreUnavailable: 'fail-open' }, chain: withQuota },
    async check(t) {
      const res = await post(t, ask(10));
      expect(res.status).toBe(200);
      expect(t.upstream.calls).toHaveLength(1);
    },
  },
};

const cases = Object.keys(FRAMEWORKS).flatMap((framework) =>
  Object.keys(SCENARIOS).map((scenario) => [framework as FrameworkName, scenario] as const),
);

let t: FrameworkApp | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

test.each(cases)('%s: %s', async (framework, scenario) => {
  const { app, check } = SCENARIOS[scenario]!;
  t = await startFrameworkApp(framework, app);
  await check(t);
});
