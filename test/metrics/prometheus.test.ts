// budget.metrics(): the Prometheus scrape after real requests (offline upstream, openai SDK) matches what the upstream billed.
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import request from 'supertest';
import { redisStore } from '../../lib';
import { type TestApp, startTestApp, words } from '../helpers/app';
import { type RedisServer, startRedis } from '../helpers/redis';

/** gpt-4o's published price, USD per token (2.50 / 10.00 per 1M). */
const GPT_4O = { input: 2.5e-6, output: 10e-6 };

/** The value of one sample of the scrape, 0 when absent. */
function sample(scrape: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of scrape.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2]?.split(',') ?? [];
    if (wanted.every((label) => have.includes(label))) return Number(match[3]);
  }
  return 0;
}

const chat = (app: TestApp, user: string, content: string) =>
  request(app.app)
    .post('/chat')
    .set('x-test-user', user)
    .send({ messages: [{ role: 'user', content }] });

describe('with the memory store', () => {
  let app: TestApp;
  let registry: Registry;
  beforeAll(async () => {
    app = await startTestApp({
      users: true,
      chain: (budget, client) => [
        budget.featureBudget('chat', { onExceed: 'truncate' }),
        budget.userQuota({ user: (req) => (req as unknown as { user?: { id: string } }).user?.id, limits: 600 }),
        budget.costMeter(),
        budget.llmHandler({ client }),
      ],
    });
    registry = new Registry();
    app.budget.metrics({ registry });
  });
  afterAll(() => app.close());

  it('counts tokens and cost as the upstream billed them, and refusals by scope and reason', async () => {
    for (let i = 0; i < 5; i++) expect((await chat(app, 'alice-secret-id', words(10 + i))).status).toBe(200);
    // Over maxInput (200) with an older turn to drop: truncated, then served.
    const long = await request(app.app)
      .post('/chat')
      .set('x-test-user', 'bob')
      .send({
        messages: [
          { role: 'user', content: words(190) },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: 'again' },
        ],
      });
    expect(long.status).toBe(200);
    // alice's 600-token quota runs out.
    let refused = 0;
    for (let i = 0; i < 12 && refused === 0; i++) if ((await chat(app, 'alice-secret-id', words(40))).status === 429) refused++;
    expect(refused).toBe(1);
    expect(
      (
        await request(app.app)
          .post('/chat')
          .send({ messages: [{ role: 'user', content: 'hi' }] })
      ).status,
    ).toBe(401);
    await app.upstream.idle();

    const scrape = await registry.metrics();
    const billed = app.upstream.calls.map((call) => call.usage!);
    const input = billed.reduce((sum, usage) => sum + usage.prompt_tokens, 0);
    const output = billed.reduce((sum, usage) => sum + usage.completion_tokens, 0);
    expect(input).toBeGreaterThan(0);
    expect(sample(scrape, 'token_budget_tokens_total', { feature: 'chat', model: 'gpt-4o', direction: 'input' })).toBe(input);
    expect(sample(scrape, 'token_budget_tokens_total', { feature: 'chat', model: 'gpt-4o', direction: 'output' })).toBe(output);
    expect(sample(scrape, 'token_budget_cost_usd_total', { feature: 'chat', model: 'gpt-4o' })).toBeCloseTo(
      input * GPT_4O.input + output * GPT_4O.output,
      9,
    );
    expect(sample(scrape, 'token_budget_refusals_total', { scope: 'user', reason: 'user_quota_exceeded' })).toBe(1);
    expect(sample(scrape, 'token_budget_refusals_total', { scope: 'user', reason: 'user_required' })).toBe(1);
    expect(sample(scrape, 'token_budget_degradations_total', { feature: 'chat', strategy: 'truncate' })).toBe(1);
    expect(sample(scrape, 'token_budget_reservations_in_flight')).toBe(0);
    // Every call was reserved and settled once; the refused reservation too was timed.
    expect(sample(scrape, 'token_budget_reserve_seconds_count', { outcome: 'granted' })).toBe(billed.length);
    expect(sample(scrape, 'token_budget_reserve_seconds_count', { outcome: 'refused' })).toBe(1);
    expect(sample(scrape, 'token_budget_settle_seconds_count')).toBe(billed.length);
    expect(scrape).not.toContain('alice');
  });

  it('counts a reservation in flight until its call is settled', async () => {
    let answer!: () => void;
    const paused = new Promise<void>((resolve) => (answer = resolve));
    const slow = await startTestApp({
      chain: (budget) => [
        budget.featureBudget('chat'),
        budget.costMeter(),
        async (req, res) => {
          const reply = await req.tokenBudget!.run(async () => {
            await paused;
            return { usage: { prompt_tokens: 5, completion_tokens: 7 } };
          });
          res.json(reply);
        },
      ],
    });
    const slowRegistry = new Registry();
    slow.budget.metrics({ registry: slowRegistry });
    const pending = request(slow.app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'hi' }] })
      .then();
    while (sample(await slowRegistry.metrics(), 'token_budget_reservations_in_flight') === 0)
      await new Promise((resolve) => setTimeout(resolve, 5));
    answer();
    expect((await pending).status).toBe(200);
    const scrape = await slowRegistry.metrics();
    expect(sample(scrape, 'token_budget_reservations_in_flight')).toBe(0);
    expect(sample(scrape, 'token_budget_tokens_total', { direction: 'output' })).toBe(7);
    await slow.close();
  });
});

describe('with Redis, through an outage', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.close());

  it('counts the store error, the fallback and fail-open reservations, and the spend handed back', async () => {
    const client = createClient({ url: server.url, socket: { reconnectStrategy: 50 } });
    client.on('error', () => {});
    await client.connect();
    const app = await startTestApp({
      budget: { store: redisStore(client, { timeoutMs: 300, onError: () => {} }) },
      chain: (budget, openai) => [
        budget.featureBudget('chat'),
        budget.globalTpm({ limit: 1_000_000, onStoreUnavailable: 'fail-open' }),
        budget.costMeter(),
        budget.llmHandler({ client: openai }),
      ],
    });
    const registry = new Registry();
    app.budget.metrics({ registry });
    const ask = () =>
      request(app.app)
        .post('/chat')
        .send({ messages: [{ role: 'user', content: 'hi' }] });
    expect((await ask()).status).toBe(200);
    await server.kill();
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(200);
    let scrape = await registry.metrics();
    expect(sample(scrape, 'token_budget_store_errors_total')).toBeGreaterThanOrEqual(1);
    expect(sample(scrape, 'token_budget_outage_policy_total', { policy: 'fallback' })).toBe(2);
    expect(sample(scrape, 'token_budget_outage_policy_total', { policy: 'fail-open' })).toBe(2);
    expect(sample(scrape, 'token_budget_reservations_in_flight')).toBe(0);
    await server.restart();
    // The next reservation hands back what the fallback counted first.
    for (let i = 0; i < 100 && sample(scrape, 'token_budget_late_spend_total') === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await ask();
      scrape = await registry.metrics();
    }
    expect(sample(scrape, 'token_budget_late_spend_total')).toBeGreaterThanOrEqual(1);
    await app.budget.store.close?.();
    await app.close();
    client.destroy();
  });
});

test('without prom-client installed, budget.metrics() says what to install (TB_MISSING_PEER)', () => {
  jest.isolateModules(() => {
    jest.doMock('prom-client', () => {
      throw new Error("Cannot find module 'prom-client'");
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createTokenBudget } = require('../../lib') as typeof import('../../lib');
    const budget = createTokenBudget({ features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } } });
    expect(() => budget.metrics()).toThrow(/npm install prom-client.*TB_MISSING_PEER/);
  });
});
