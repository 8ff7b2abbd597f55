// Azure OpenAI through the real AzureOpenAI client: deployment names as aliases, Azure's paths, filter chunks, retry-after-ms.
import { AzureOpenAI } from 'openai';
import request from 'supertest';
import { countChatTokens, type BudgetWarning } from '../../lib';
import { costNanos } from '../../lib/pricing/cost';
import { priceOf } from '../../lib/pricing/prices';
import { formatUsd } from '../../lib/alerts/money';
import { chatDailyScope, readChatStream, startTestApp, type TestApp, type TestAppOptions } from '../helpers/app';
import type { OfflineUpstream } from '../../lib/testing';

const DAILY = 10_000;
const API_VERSION = '2024-10-21';
const DEPLOYMENT = 'prod-chat-4o';
const features = { chat: { maxInput: 200, maxOutput: 100, model: DEPLOYMENT, dailyTokens: DAILY } };
const messages = [{ role: 'user' as const, content: 'Hi there' }];
const promptTokens = countChatTokens(messages, { model: 'gpt-4o' });

let t: TestApp;

/** AzureOpenAI at the upstream, sending each call to the deployment its body names unless bound to `deployment`. */
const azureClient = (upstream: OfflineUpstream, deployment?: string) =>
  new AzureOpenAI({
    endpoint: new URL(upstream.baseURL).origin,
    apiKey: 'azure-test-key',
    apiVersion: API_VERSION,
    maxRetries: 0,
    ...(deployment === undefined ? {} : { deployment }),
  });

/** An app whose route calls the offline upstream on Azure's paths through AzureOpenAI. */
async function start(options: TestAppOptions = {}): Promise<void> {
  t = await startTestApp({
    ...options,
    upstream: { deployments: { [DEPLOYMENT]: 'gpt-4o-2024-08-06' }, ...options.upstream },
    budget: { features, models: { [DEPLOYMENT]: 'gpt-4o' }, ...options.budget },
    client: (upstream) => azureClient(upstream),
    chain:
      options.chain ??
      ((budget, client) => [budget.featureBudget('chat'), budget.costMeter({ costHeader: true }), budget.llmHandler({ client })]),
  });
}

afterEach(() => t?.close());

const dailyUsed = async () => (await t.budget.store.usage(chatDailyScope(DAILY))).used;

test('a deployment name is an alias: sent as the deployment, counted and priced as gpt-4o, Azure answering on its own path', async () => {
  await start({ upstream: { completionTokens: () => 9 } });
  const res = await request(t.app).post('/chat').send({ messages });
  expect(res.status).toBe(200);
  const [call] = t.upstream.calls;
  expect(call.request.azure).toEqual({ deployment: DEPLOYMENT, apiVersion: API_VERSION });
  expect(call.request.body.model).toBe(DEPLOYMENT);
  // gpt-4o's row: max_tokens (not max_completion_tokens), the cap the feature gave.
  expect(call.request.body.max_tokens).toBe(100);
  expect(call.promptTokens).toBe(promptTokens);
  expect(res.body.model).toBe('gpt-4o-2024-08-06');
  expect(res.body.prompt_filter_results).toHaveLength(1);
  expect(await dailyUsed()).toBe(promptTokens + 9);
  const cost = costNanos(priceOf('gpt-4o').price, { promptTokens, completionTokens: 9 });
  expect(res.headers['x-token-budget-cost-usd']).toBe(formatUsd(cost));
});

test('run() with an AzureOpenAI client settles the real usage', async () => {
  await start({
    upstream: { completionTokens: () => 5 },
    chain: (budget, client) => [
      budget.featureBudget('chat'),
      async (req, res, next) => {
        try {
          res.json(await req.tokenBudget!.run((params, options) => client.chat.completions.create(params, options)));
        } catch (err) {
          next(err);
        }
      },
    ],
  });
  const res = await request(t.app).post('/chat').send({ messages });
  expect(res.status).toBe(200);
  expect(t.upstream.calls[0].request.azure?.deployment).toBe(DEPLOYMENT);
  expect(await dailyUsed()).toBe(promptTokens + 5);
});

test("Azure's stream (a first chunk without choices, a filter chunk without delta) is forwarded and settled to its usage chunk", async () => {
  await start({ upstream: { completionTokens: () => 12 } });
  const chunks = await readChatStream(t.app, { messages });
  expect(chunks[0]).toMatchObject({ choices: [], id: '', prompt_filter_results: [expect.anything()] });
  const text = chunks.map((chunk) => chunk.choices[0]?.delta?.content ?? '').join('');
  expect(text).toBe('ok' + ' ok'.repeat(11));
  expect(chunks.some((chunk) => chunk.choices[0] && !chunk.choices[0].delta)).toBe(true);
  expect(await dailyUsed()).toBe(t.upstream.calls[0].usage!.total_tokens);
  expect(await dailyUsed()).toBe(promptTokens + 12);
});

test('an Azure stream without its usage chunk is settled by onMissingUsage, its output counted from the deltas only', async () => {
  await start({
    budget: { onMissingUsage: 'count-reply' },
    upstream: { completionTokens: () => 12, behave: () => ({ kind: 'no-usage' }) },
  });
  await readChatStream(t.app, { messages });
  expect(await dailyUsed()).toBe(promptTokens + 12);
});

test("Azure's 429 with retry-after-ms is a 503 upstream_rate_limited with Retry-After, and nothing is charged", async () => {
  await start({ upstream: { behave: () => ({ kind: 'error', status: 429, headers: { 'retry-after-ms': '2500' } }) } });
  const res = await request(t.app).post('/chat').send({ messages });
  expect(res.status).toBe(503);
  expect(res.body.error.type).toBe('upstream_rate_limited');
  expect(res.headers['retry-after']).toBe('3');
  expect(await dailyUsed()).toBe(0);
});

test("a client bound to another deployment calls it, and says so once: the feature's model is not what is called", async () => {
  const warnings: BudgetWarning[] = [];
  t = await startTestApp({
    budget: { features, models: { [DEPLOYMENT]: 'gpt-4o' }, onWarning: (warning) => warnings.push(warning) },
    client: (upstream) => azureClient(upstream, 'legacy-35'),
  });
  await request(t.app).post('/chat').send({ messages });
  await request(t.app).post('/chat').send({ messages });
  expect(t.upstream.calls.map((call) => call.request.azure?.deployment)).toEqual(['legacy-35', 'legacy-35']);
  expect(warnings.map((warning) => warning.code)).toEqual(['TB_CLIENT_DEPLOYMENT']);
  expect(warnings[0]!.message).toMatch(
    /bound to the Azure deployment "legacy-35", so feature "chat" calls it, not its model "prod-chat-4o"/,
  );
});

test('a client bound to the deployment the feature names is quiet', async () => {
  const warnings: BudgetWarning[] = [];
  t = await startTestApp({
    budget: { features, models: { [DEPLOYMENT]: 'gpt-4o' }, onWarning: (warning) => warnings.push(warning) },
    client: (upstream) => azureClient(upstream, DEPLOYMENT),
  });
  expect((await request(t.app).post('/chat').send({ messages })).status).toBe(200);
  expect(t.upstream.calls[0]!.request.azure?.deployment).toBe(DEPLOYMENT);
  expect(warnings).toEqual([]);
});

test.each([
  ['without a deployment', undefined],
  ["with an empty deployment (the SDK then calls the body's model)", ''],
])('a client %s is bound to none: quiet', async (_name, deployment) => {
  const warnings: BudgetWarning[] = [];
  t = await startTestApp({
    budget: { features, models: { [DEPLOYMENT]: 'gpt-4o' }, onWarning: (warning) => warnings.push(warning) },
    client: (upstream) => azureClient(upstream, deployment),
  });
  expect((await request(t.app).post('/chat').send({ messages })).status).toBe(200);
  expect(t.upstream.calls[0]!.request.azure?.deployment).toBe(DEPLOYMENT);
  expect(warnings).toEqual([]);
});
