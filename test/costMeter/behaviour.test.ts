// costMeter in one process (memory store): spend at the model's prices, the cost header, hard caps, alerts once, options.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens, createTokenBudget, TokenBudgetConfigError } from '../../lib';
import { formatUsd } from '../../lib/alerts/money';
import { periodAt } from '../../lib/store/periods';
import type { BudgetContext, BudgetWarning, CostMeterOptions, SpendAlert } from '../../lib';
import { startTestApp, type TestApp } from '../helpers/app';
import { billedNanos, meterScope, storm, USD } from './money';

const features = {
  chat: { maxInput: 200, maxOutput: 50, model: 'gpt-4o' },
  quick: { maxInput: 200, maxOutput: 50, model: 'gpt-4o-mini' },
};
const MESSAGES = [{ role: 'user' as const, content: 'How much does this cost?' }];
const PROMPT = countChatTokens(MESSAGES, { model: 'gpt-4o' });
/** gpt-4o: $2.50 and $10 per 1M tokens, in nano-USD per token. */
const INPUT = 2500;
const OUTPUT = 10_000;

let t: TestApp | undefined;
let servers: http.Server[] = [];
afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  servers = [];
});

async function meteredApp(meter: CostMeterOptions, extra: { warnings?: BudgetWarning[]; completionTokens?: number } = {}) {
  t = await startTestApp({
    budget: { features, onWarning: (w) => extra.warnings?.push(w) },
    upstream: { completionTokens: (_req, cap) => Math.min(cap, extra.completionTokens ?? 24) },
    chain: (b, client) => [b.featureBudget('chat'), b.costMeter(meter), b.llmHandler({ client })],
  });
  return t;
}

async function listen(app: http.RequestListener): Promise<number> {
  const server = http.createServer(app);
  servers.push(server);
  // A storm opens 1,000 connections at once: past the default backlog (511) a loaded machine resets some.
  server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const chat = (app: TestApp['app']) => request(app).post('/chat').send({ messages: MESSAGES });

test("spend is settled at the model's prices into this hour and today, and the cost header says what the request cost", async () => {
  const app = await meteredApp({ costHeader: true });
  const res = await chat(app.app);
  expect(res.status).toBe(200);
  const billed = billedNanos(app.upstream.calls);
  expect(billed).toBe(PROMPT * INPUT + 24 * OUTPUT);
  expect(res.headers['x-token-budget-cost-usd']).toBe(formatUsd(billed));
  const now = Date.now();
  expect(await app.budget.store.spentAt!(meterScope('hour'), [now])).toEqual([billed]);
  expect(await app.budget.store.spentAt!(meterScope('day'), [now])).toEqual([billed]);
  // Nothing stays reserved: the window's counter is the settled spend.
  expect((await app.budget.store.usage(meterScope('hour'))).used).toBe(billed);
});

test('timeZone: hours and days of the given zone, in keys of their own', async () => {
  const app = await meteredApp({ timeZone: 'Asia/Kolkata' });
  expect((await chat(app.app)).status).toBe(200);
  const now = Date.now();
  const billed = billedNanos(app.upstream.calls);
  expect(await app.budget.store.spentAt!(meterScope('day', { timeZone: 'Asia/Kolkata' }), [now])).toEqual([billed]);
  expect((await app.budget.store.usage(meterScope('day', { timeZone: 'Asia/Kolkata' }))).resetAtMs).toBe(
    periodAt(now, 'day', 'Asia/Kolkata').endMs,
  );
  expect(await app.budget.store.spentAt!(meterScope('day'), [now])).toEqual([0]);
});

test('no cost header unless asked; a custom header name', async () => {
  let app = await meteredApp({});
  expect((await chat(app.app)).headers['x-token-budget-cost-usd']).toBeUndefined();
  await app.close();
  app = await meteredApp({ costHeader: false });
  expect((await chat(app.app)).headers['x-token-budget-cost-usd']).toBeUndefined();
  await app.close();
  app = await meteredApp({ costHeader: 'X-Cost' });
  expect((await chat(app.app)).headers['x-cost']).toBe(formatUsd(billedNanos(app.upstream.calls)));
});

test('the output cap sent upstream is what the money left can pay for; past the cap: 503 spend_cap_reached until the hour ends', async () => {
  // The prompt and exactly 10 output tokens.
  const capNanos = PROMPT * INPUT + 10 * OUTPUT;
  const app = await meteredApp({ hourlyCapUsd: capNanos / USD });
  const first = await chat(app.app);
  expect(first.status).toBe(200);
  expect(app.upstream.calls[0]!.cap).toBe(10);
  const second = await chat(app.app);
  expect(second.status).toBe(503);
  expect(second.body.error).toMatchObject({ type: 'spend_cap_reached', scope: 'spend' });
  const secondsLeft = (periodAt(Date.now(), 'hour', 'UTC').endMs - Date.now()) / 1000;
  expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(Math.floor(secondsLeft) - 2);
  expect(Number(second.headers['retry-after'])).toBeLessThanOrEqual(Math.ceil(secondsLeft) + 2);
  expect(app.upstream.calls).toHaveLength(1);
});

describe('a thousand requests under a spend cap', () => {
  test('1,000 concurrent requests: the billed cost never passes the cap, and each threshold is alerted exactly once', async () => {
    const alerts: SpendAlert[] = [];
    const cap = 0.05;
    const app = await meteredApp({
      hourlyCapUsd: cap,
      hourlyAlertUsd: [0.01, 0.02],
      dailyAlertUsd: 0.03,
      onAlert: (a) => void alerts.push(a),
    });
    const port = await listen(app.app);
    const { statuses, types } = await storm([port], 1000, () => ({ messages: MESSAGES }));
    expect([...statuses.keys()].sort()).toEqual([200, 503]);
    expect(types.get('spend_cap_reached')).toBe(statuses.get(503));
    const billed = billedNanos(app.upstream.calls);
    expect(billed).toBeLessThanOrEqual(cap * USD);
    // The cap was really contested: less than one more call's worst case was left.
    expect(cap * USD - billed).toBeLessThan(PROMPT * INPUT + 50 * OUTPUT);
    expect(await app.budget.store.spentAt!(meterScope('hour'), [Date.now()])).toEqual([billed]);
    const byThreshold = alerts.map((a) => `${a.window} ${a.thresholdUsd}`).sort();
    expect(byThreshold).toEqual(['day 0.03', 'hour 0.01', 'hour 0.02']);
    for (const alert of alerts) {
      expect(alert.kind).toBe('threshold');
      // Reported by the settlement that crossed it: at or just past the threshold.
      expect(alert.spentUsd).toBeGreaterThanOrEqual(alert.thresholdUsd);
      expect(alert.spentUsd - alert.thresholdUsd).toBeLessThan((PROMPT * INPUT + 50 * OUTPUT) / USD);
    }
  });
});

test('a spike with no history is an hour past minUsd: alerted once under concurrency', async () => {
  const alerts: SpendAlert[] = [];
  const app = await meteredApp({ spike: { factor: 3, minUsd: 0.01 }, onAlert: (a) => void alerts.push(a) });
  const port = await listen(app.app);
  await storm([port], 200, () => ({ messages: MESSAGES }));
  // The check runs after the response, in the background.
  while (alerts.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  // Every settlement has been observed (each before its response); checks left to run are queued before this turn ends.
  await new Promise((resolve) => setImmediate(resolve));
  expect(alerts).toEqual([expect.objectContaining({ kind: 'spike', window: 'hour', thresholdUsd: 0.01, baselineUsd: 0 })]);
});

test("per: 'feature' keeps each feature's spend, caps and alerts apart", async () => {
  const alerts: SpendAlert[] = [];
  t = await startTestApp({
    budget: { features },
    upstream: { completionTokens: (_req, cap) => cap },
    chain: (b, client) => {
      const meter = b.costMeter({
        per: 'feature',
        hourlyCapUsd: (PROMPT * INPUT + 30 * OUTPUT) / USD,
        hourlyAlertUsd: 0.00001,
        onAlert: (a) => void alerts.push(a),
      });
      return [
        (req, res, next) => b.featureBudget(req.get('x-feature') ?? 'chat')(req, res, next),
        meter,
        b.llmHandler({ client }),
      ];
    },
  });
  const send = (feature: string) => request(t!.app).post('/chat').set('x-feature', feature).send({ messages: MESSAGES });
  expect((await send('chat')).status).toBe(200);
  expect((await send('chat')).status).toBe(503);
  expect((await send('quick')).status).toBe(200);
  expect(alerts.map((a) => a.feature).sort()).toEqual(['chat', 'quick']);
  const now = Date.now();
  const [chatSpent] = await t.budget.store.spentAt!(meterScope('hour', { feature: 'chat' }), [now]);
  const [globalSpent] = await t.budget.store.spentAt!(meterScope('hour'), [now]);
  expect(chatSpent).toBe(billedNanos(t.upstream.calls.slice(0, 1)));
  expect(globalSpent).toBe(0);
});

test('a webhook that never answers does not delay the request', async () => {
  let held: http.ServerResponse | undefined;
  const hook = http.createServer((_req, res) => {
    held = res;
  });
  servers.push(hook);
  hook.listen(0, '127.0.0.1');
  await once(hook, 'listening');
  const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  const app = await meteredApp({ hourlyAlertUsd: 0.000001, webhook: { url, timeoutMs: 600_000 } });
  const res = await chat(app.app);
  expect(res.status).toBe(200);
  while (!held) await new Promise((resolve) => setTimeout(resolve, 10));
  // The alert's POST is still open, unanswered, after the request was answered.
  expect(held.writableEnded).toBe(false);
});

test('one meter mounted twice on a route alerts once', async () => {
  const alerts: SpendAlert[] = [];
  const options = { hourlyAlertUsd: 0.000001, onAlert: (a: SpendAlert) => void alerts.push(a) };
  t = await startTestApp({
    budget: { features },
    chain: (b, client) => [b.featureBudget('chat'), b.costMeter(options), b.costMeter(options), b.llmHandler({ client })],
  });
  expect((await chat(t.app)).status).toBe(200);
  expect(alerts).toHaveLength(1);
});

describe('configuration', () => {
  const budget = (extra: object = {}) =>
    createTokenBudget({
      features: { odd: { maxInput: 10, maxOutput: 10, model: 'my-model' } },
      unknownModelEncoding: 'o200k_base',
      ...extra,
    });

  it('a configured model without a price stops the start-up, naming it; fallbackPrice prices it, with a warning', () => {
    expect(() => budget()).not.toThrow();
    expect(() => budget().costMeter()).toThrow(TokenBudgetConfigError);
    expect(() => budget().costMeter()).toThrow(/"my-model" has no known price.*TB_UNPRICED_MODEL/);
    const warnings: BudgetWarning[] = [];
    expect(() =>
      budget({ fallbackPrice: { input: 1, output: 2 }, onWarning: (w: BudgetWarning) => warnings.push(w) }).costMeter(),
    ).not.toThrow();
    expect(warnings.map((w) => w.code)).toEqual(['TB_FALLBACK_PRICE']);
    expect(warnings[0]!.message).toContain('features.odd.model "my-model" has no price of its own');
    expect(() => budget({ prices: { 'my-model': { input: 1, output: 2 } } }).costMeter()).not.toThrow();
  });

  it.each<[CostMeterOptions, RegExp]>([
    [{ hourlyAlertUsd: 5 }, /has alerts but nowhere to send them/],
    [{ dailyAlertUsd: 5 }, /has alerts but nowhere to send them/],
    [{ spike: { factor: 3 } }, /has alerts but nowhere to send them/],
    [{ hourlyCapUsd: 0 }, /hourlyCapUsd must be a positive amount of USD/],
    [{ dailyAlertUsd: [5, -1], onAlert: () => {} }, /dailyAlertUsd\[1\] must be a positive amount/],
    [{ per: 'user' as never }, /per must be 'global' or 'feature'/],
    [{ timeZone: 'Mars/Olympus' }, /timeZone "Mars\/Olympus" is not an IANA time zone/],
    [{ spike: { factor: 0 }, onAlert: () => {} }, /spike\.factor must be a positive number/],
    [{ webhook: 'ftp://x' }, /webhook\.url must be an http\(s\) URL/],
    [{ costHeader: 'bad header' }, /costHeader must be true, false or a header name/],
    [{ name: 'a:b' }, /costMeter\.name must be 1–64 characters/],
    [null as never, /costMeter options must be an object/],
    [5 as never, /costMeter options must be an object/],
    [{ spike: null as never, onAlert: () => {} }, /costMeter\("spend"\)\.spike must be \{ factor, minUsd \}/],
    [{ spike: 3 as never, onAlert: () => {} }, /costMeter\("spend"\)\.spike must be \{ factor, minUsd \}/],
    [{ spike: { factor: NaN }, onAlert: () => {} }, /spike\.factor must be a positive number/],
    [{ spike: { factor: 3, minUsd: -1 }, onAlert: () => {} }, /costMeter\("spend"\)\.spike\.minUsd must be a positive amount/],
    [{ costHeader: 5 as never }, /costHeader must be true, false or a header name/],
    [{ dailyCapUsd: 0 }, /costMeter\("spend"\)\.dailyCapUsd must be a positive amount/],
    [{ hourlyAlertUsd: -1, onAlert: () => {} }, /costMeter\("spend"\)\.hourlyAlertUsd must be a positive amount/],
    [{ onAlert: 5 as never }, /costMeter\("spend"\)\.onAlert must be a function/],
    [{ onStoreUnavailable: 'maybe' as never }, /costMeter\("spend"\)\.onStoreUnavailable must be one of/],
    [{ mode: 'loud' as never }, /costMeter\("spend"\)\.mode must be 'enforce' or 'shadow'/],
  ])('%j is a configuration error', (options, message) => {
    expect(() => createTokenBudget({ features }).costMeter(options)).toThrow(message);
    expect(() => createTokenBudget({ features }).costMeter(options)).toThrow(/\[TB_INVALID_OPTION\]$/);
  });

  it("a summarizer's model without a price stops the start-up, as the feature's own does", () => {
    const summarizer = { client: new OpenAI({ apiKey: 'sk-test' }), model: 'local-llm', maxInput: 100, maxOutput: 10 };
    const b = budget({ prices: { 'my-model': { input: 1, output: 2 } } });
    expect(() => b.costMeter()).not.toThrow();
    const summarized = budget({
      features: { odd: { maxInput: 10, maxOutput: 10, model: 'my-model', summarizer } },
      prices: { 'my-model': { input: 1, output: 2 } },
    });
    expect(() => summarized.costMeter()).toThrow(/"local-llm" has no known price.*TB_UNPRICED_MODEL/);
  });

  it('alert thresholds in any order are one definition', () => {
    const b = createTokenBudget({ features });
    b.costMeter({ hourlyAlertUsd: [1, 2, 3], onAlert: () => {} });
    expect(() => b.costMeter({ hourlyAlertUsd: [3, 1, 2], onAlert: () => {} })).not.toThrow();
    expect(() => b.costMeter({ hourlyAlertUsd: [2, 3, 1], onAlert: () => {} })).not.toThrow();
  });

  it('one name is one spend: the same definition mounts twice, another is refused', () => {
    const b = createTokenBudget({ features });
    b.costMeter({ hourlyCapUsd: 5 });
    expect(() => b.costMeter({ hourlyCapUsd: 5 })).not.toThrow();
    expect(() => b.costMeter({ hourlyCapUsd: 6 })).toThrow(/costMeter\("spend"\) is already defined with other caps/);
    expect(() => b.costMeter({ hourlyCapUsd: 6 })).toThrow(/\[TB_INVALID_OPTION\]$/);
    expect(() => b.costMeter({ name: 'other', hourlyCapUsd: 6 })).not.toThrow();
    b.costMeter({ name: 'spiky', spike: { factor: 3 }, onAlert: () => {} });
    expect(() => b.costMeter({ name: 'spiky', spike: { factor: 4 }, onAlert: () => {} })).toThrow(/already defined/);
  });
});

test('spend figures never reach the client: no RateLimit policy for spend, no limit or remaining in spend_cap_reached', async () => {
  const app = await meteredApp({ hourlyCapUsd: (PROMPT * INPUT + 24 * OUTPUT) / USD });
  const served = await chat(app.app);
  const refused = await chat(app.app);
  expect(refused.status).toBe(503);
  expect(served.headers['ratelimit-policy'] ?? '').not.toContain('spend');
  expect(refused.headers['ratelimit-policy'] ?? '').not.toContain('spend');
  expect(refused.body.error).not.toHaveProperty('limit');
  expect(refused.body.error).not.toHaveProperty('remaining');
});

/** The model's reply, named "gpt-4o-experimental", as a completion, a chat stream and a Responses stream (usage on the last chunk). */
const unpricedReplies: [string, (context: BudgetContext) => Promise<void>][] = [
  [
    'a completion',
    async (context) => {
      await context.run(async () => ({
        model: 'gpt-4o-experimental',
        choices: [{ message: { role: 'assistant', content: 'ok' } }],
        usage: { prompt_tokens: PROMPT, completion_tokens: 1, total_tokens: PROMPT + 1 },
      }));
    },
  ],
  [
    'a chat stream',
    async (context) => {
      const usage = { prompt_tokens: PROMPT, completion_tokens: 1, total_tokens: PROMPT + 1 };
      const chunks = [
        { model: 'gpt-4o-experimental', choices: [{ index: 0, delta: { content: 'ok' } }] },
        { model: 'gpt-4o-experimental', choices: [], usage },
      ];
      for await (const chunk of await context.runStream(async () => fromArray(chunks))) void chunk;
    },
  ],
  [
    'a Responses stream',
    async (context) => {
      const response = {
        model: 'gpt-4o-experimental',
        usage: { input_tokens: PROMPT, output_tokens: 1, total_tokens: PROMPT + 1 },
      };
      const events = [
        { type: 'response.created', response: { model: 'gpt-4o-experimental' } },
        { type: 'response.output_text.delta', delta: 'ok' },
        { type: 'response.completed', response },
      ];
      for await (const event of await context.runStream(async () => fromArray(events), { api: 'responses' })) void event;
    },
  ],
];

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

test.each(unpricedReplies)(
  "%s naming a model without a price is counted at the feature model's prices, with one warning",
  async (_kind, reply) => {
    const warnings: BudgetWarning[] = [];
    t = await startTestApp({
      budget: { features, onWarning: (w) => warnings.push(w) },
      chain: (b) => [
        b.featureBudget('chat'),
        b.costMeter({}),
        async (req, res) => {
          await reply(req.tokenBudget!);
          res.json({});
        },
      ],
    });
    for (let i = 0; i < 2; i++) expect((await chat(t.app)).status).toBe(200);
    expect(warnings.filter((w) => w.code === 'TB_UNPRICED_RESPONSE_MODEL')).toHaveLength(1);
    expect(warnings.find((w) => w.code === 'TB_UNPRICED_RESPONSE_MODEL')!.message).toContain('gpt-4o-experimental');
    const [hour] = await t.budget.store.spentAt!(meterScope('hour'), [Date.now()]);
    expect(hour).toBe(2 * (PROMPT * INPUT + OUTPUT));
  },
);

test("a reply naming another priced model than the feature's warns of no unpriced response model", async () => {
  const warnings: BudgetWarning[] = [];
  t = await startTestApp({
    budget: { features, onWarning: (w) => warnings.push(w) },
    chain: (b) => [
      b.featureBudget('chat'),
      b.costMeter({}),
      async (req, res) => {
        await req.tokenBudget!.run(async () => ({
          model: 'gpt-4o-mini',
          choices: [{ message: { role: 'assistant', content: 'ok' } }],
          usage: { prompt_tokens: PROMPT, completion_tokens: 1, total_tokens: PROMPT + 1 },
        }));
        res.json({});
      },
    ],
  });
  expect((await chat(t.app)).status).toBe(200);
  expect(warnings.map((w) => w.code)).not.toContain('TB_UNPRICED_RESPONSE_MODEL');
});

test('a reply that names no model is costed at the feature model, with no warning', async () => {
  const warnings: BudgetWarning[] = [];
  t = await startTestApp({
    budget: { features, onWarning: (w) => warnings.push(w) },
    chain: (b) => [
      b.featureBudget('chat'),
      b.costMeter({ costHeader: true }),
      async (req, res) => {
        await req.tokenBudget!.run(async () => ({
          choices: [{ message: { role: 'assistant', content: 'ok' } }],
          usage: { prompt_tokens: PROMPT, completion_tokens: 1, total_tokens: PROMPT + 1 },
        }));
        res.json({});
      },
    ],
  });
  const res = await chat(t.app);
  expect(res.headers['x-token-budget-cost-usd']).toBe(formatUsd(PROMPT * INPUT + OUTPUT));
  expect(warnings).toEqual([]);
});
