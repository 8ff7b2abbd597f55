// llmHandler and run(): refused calls are released, sent ones charged, usage is settled, limits are enforced.
import http from 'node:http';
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens, memoryStore } from '../../lib';
import { chatDailyScope, startTestApp, type TestApp } from '../helpers/app';
import { until } from '../helpers/until';

const DAILY = 1000;
const dailyScope = chatDailyScope(DAILY);
const features = { chat: { maxInput: 200, maxOutput: 50, model: 'gpt-4o', dailyTokens: DAILY } };
const hi = { messages: [{ role: 'user', content: 'Hi' }] };

let t: TestApp;
afterEach(() => t?.close());

const dailyUsed = async () => (await t.budget.store.usage(dailyScope)).used;

/** What a call sent upstream reserved: its prompt as counted, plus the output cap it carried. */
const reservationOf = (body: Record<string, unknown>) =>
  countChatTokens(body.messages as never, { model: 'gpt-4o' }) + Number(body.max_tokens);

describe('upstream failures release the reservation and answer clearly', () => {
  const cases: Array<[string, Parameters<typeof startTestApp>[0], number, string]> = [
    [
      '429',
      { upstream: { behave: () => ({ kind: 'error', status: 429, headers: { 'retry-after': '7' } }) } },
      503,
      'upstream_rate_limited',
    ],
    ['500', { upstream: { behave: () => ({ kind: 'error', status: 500 }) } }, 502, 'upstream_error'],
    ['503', { upstream: { behave: () => ({ kind: 'error', status: 503 }) } }, 502, 'upstream_error'],
    ['400', { upstream: { behave: () => ({ kind: 'error', status: 400 }) } }, 502, 'upstream_error'],
  ];
  test.each(cases)('upstream %s', async (_name, options, status, type) => {
    t = await startTestApp({ ...options, budget: { features } });
    const res = await request(t.app).post('/chat').send(hi);
    expect(res.status).toBe(status);
    expect(res.body.error.type).toBe(type);
    if (type === 'upstream_rate_limited') expect(res.headers['retry-after']).toBe('7');
    expect(await dailyUsed()).toBe(0);
  });

  test.each([1, 10080])('a port fetch refuses to use (%i): nothing was sent, so 502 and nothing charged', async (port) => {
    t = await startTestApp({
      budget: { features },
      client: () => new OpenAI({ apiKey: 'offline', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }),
    });
    const res = await request(t.app).post('/chat').send(hi);
    expect(res.status).toBe(502);
    expect(res.body.error.type).toBe('upstream_error');
    expect(await dailyUsed()).toBe(0);
  });

  test('time-out → 504 upstream_timeout', async () => {
    t = await startTestApp({
      budget: { features },
      upstream: { behave: () => ({ kind: 'delay', ms: 2000 }) },
      chain: (b, client) => [b.featureBudget('chat'), b.llmHandler({ client, timeoutMs: 200 })],
    });
    const res = await request(t.app).post('/chat').send(hi);
    expect(res.status).toBe(504);
    expect(res.body.error.type).toBe('upstream_timeout');
    // The provider got the prompt and may have generated up to the cap: the reservation (input + the 50-token cap) is charged.
    expect(await dailyUsed()).toBe(countChatTokens(hi.messages as never, { model: 'gpt-4o' }) + 50);
  });

  test('the upstream time-out does not include a slow reservation', async () => {
    const inner = memoryStore();
    const slowStore = {
      ...inner,
      reserve: async (r: Parameters<typeof inner.reserve>[0]) => {
        await new Promise((resolve) => setTimeout(resolve, 3000));
        return inner.reserve(r);
      },
    };
    // A reservation far slower than the deadline; the upstream itself has ample time.
    t = await startTestApp({
      budget: { features, store: slowStore },
      chain: (b, client) => [b.featureBudget('chat'), b.llmHandler({ client, timeoutMs: 2000 })],
    });
    expect((await request(t.app).post('/chat').send(hi)).status).toBe(200);
  });

  test('unreachable upstream → 502 upstream_error', async () => {
    t = await startTestApp({ budget: { features } });
    await t.upstream.close();
    const res = await request(t.app).post('/chat').send(hi);
    expect(res.status).toBe(502);
    expect(res.body.error.type).toBe('upstream_error');
    expect(await dailyUsed()).toBe(0);
  });

  test('the API key never appears in an error', async () => {
    t = await startTestApp({
      upstream: {
        behave: (req) => ({
          kind: 'error',
          status: 401,
          message: `Incorrect API key provided: ${String(req.headers.authorization)}`,
        }),
      },
    });
    const res = await request(t.app).post('/chat').send(hi);
    expect(res.status).toBe(502);
    expect(JSON.stringify(res.body) + JSON.stringify(res.headers)).not.toMatch(/sk-test|secret/);
  });
});

describe('settlement', () => {
  test('the daily budget is moved to the real usage, not the reservation', async () => {
    t = await startTestApp({ budget: { features } });
    const res = await request(t.app).post('/chat').send(hi);
    expect(res.status).toBe(200);
    expect(await dailyUsed()).toBe(res.body.usage.total_tokens);
    expect(res.body.usage.total_tokens).toBeLessThan(res.body.usage.prompt_tokens + 50);
  });

  test('the daily budget runs out: 429 feature_quota_exceeded with Retry-After, and the cap shrinks first', async () => {
    t = await startTestApp({ budget: { features }, upstream: { completionTokens: (_r, cap) => cap } });
    let status = 200;
    const caps: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 40 && status === 200; i++) {
      last = await request(t.app).post('/chat').send(hi);
      status = last.status;
      if (status === 200) caps.push(t.upstream.calls.at(-1)!.request.body.max_tokens as number);
    }
    expect(status).toBe(429);
    expect(last!.body.error).toMatchObject({ type: 'feature_quota_exceeded', scope: 'feature', limit: DAILY });
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    // Never overspent: what the upstream billed fits in the daily budget.
    expect(t.upstream.billedTokens()).toBeLessThanOrEqual(DAILY);
    expect(caps.at(-1)).toBeLessThan(50);
    expect(await dailyUsed()).toBe(t.upstream.billedTokens());
  });

  test('a custom handler using run() reserves, calls and settles the same way, with RateLimit headers', async () => {
    t = await startTestApp({
      budget: { features },
      users: true,
      chain: (b, client) => [
        b.featureBudget('chat'),
        b.userQuota({ user: (req) => (req as { user?: { id: string } }).user?.id, limits: 5000 }),
        async (req, res) => {
          const completion = await req.tokenBudget!.run((params, options) => client.chat.completions.create(params, options));
          res.json({ text: completion.choices[0]!.message.content });
        },
      ],
    });
    const res = await request(t.app).post('/chat').set('x-test-user', 'runner').send(hi);
    expect(res.status).toBe(200);
    expect(res.body.text).toMatch(/^ok/);
    expect(await dailyUsed()).toBe(t.upstream.billedTokens());
    // The headers report the quota after the call was settled.
    expect(res.headers['ratelimit-policy']).toBe('"user";q=5000;w=86400');
    expect(res.headers.ratelimit).toMatch(new RegExp(`^"user";r=${5000 - t.upstream.billedTokens()};t=\\d+$`));
    // One attempt, and the user named to the provider by a hash, never by the id.
    expect(t.upstream.calls).toHaveLength(1);
    expect(t.upstream.calls[0]!.request.body.safety_identifier).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  test('a chain that never reserves leaves nothing reserved and warns once', async () => {
    const warnings: string[] = [];
    t = await startTestApp({
      budget: { features, onWarning: (w) => warnings.push(w.code) },
      chain: (b) => [b.featureBudget('chat'), (_req, res) => void res.json({ ok: true })],
    });
    await request(t.app).post('/chat').send(hi);
    await request(t.app).post('/chat').send(hi);
    await new Promise((r) => setTimeout(r, 50));
    expect(warnings).toEqual(['TB_NOT_RESERVED']);
    expect(await dailyUsed()).toBe(0);
  });

  test('a request refused before the reservation is no misconfiguration', async () => {
    const warnings: string[] = [];
    t = await startTestApp({
      budget: { features, onWarning: (w) => warnings.push(w.code) },
      chain: (b, client) => [
        b.featureBudget('chat'),
        b.userQuota({ user: () => undefined, limits: 10 }),
        b.llmHandler({ client }),
      ],
    });
    expect((await request(t.app).post('/chat').send(hi)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 50));
    expect(warnings).toEqual([]);
  });

  test('a handler that reserves and never settles is released when the response ends', async () => {
    t = await startTestApp({
      budget: { features },
      chain: (b) => [
        b.featureBudget('chat'),
        async (req, res) => {
          await req.tokenBudget!.reserve();
          res.json({ reserved: true });
        },
      ],
    });
    await request(t.app).post('/chat').send(hi);
    await new Promise((r) => setTimeout(r, 50));
    expect(await dailyUsed()).toBe(0);
  });
});

/** Starts a POST /chat from a raw client, and hangs up once the upstream has the call. */
async function hangUpMidCall(): Promise<http.Server> {
  const server = t.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as { port: number };
  const req = http.request({
    port,
    host: '127.0.0.1',
    method: 'POST',
    path: '/chat',
    headers: { 'content-type': 'application/json' },
  });
  req.on('error', () => {});
  req.end(JSON.stringify(hi));
  await until(() => t.upstream.calls.length === 1);
  expect(await dailyUsed()).toBeGreaterThan(0);
  req.destroy();
  return server;
}

test('a client that hangs up does not stop the call: what the provider billed is counted', async () => {
  t = await startTestApp({ budget: { features }, upstream: { behave: () => ({ kind: 'delay', ms: 500 }) } });
  const server = await hangUpMidCall();
  await until(() => t.upstream.billedTokens() > 0);
  await until(async () => (await dailyUsed()) === t.upstream.billedTokens());
  expect(await dailyUsed()).toBe(t.upstream.calls[0]!.usage!.total_tokens);
  server.close();
});

test("onClientGone 'abort' stops the call when the client hangs up and charges its reservation", async () => {
  t = await startTestApp({
    budget: { features, onClientGone: 'abort' },
    upstream: { behave: () => ({ kind: 'delay', ms: 600 }) },
  });
  const server = await hangUpMidCall();
  const reserved = await dailyUsed();
  expect(reserved).toBe(reservationOf(t.upstream.calls[0]!.request.body));
  // Past the upstream's delay: an aborted call was never answered, so the charge stands.
  await new Promise((r) => setTimeout(r, 900));
  expect(await dailyUsed()).toBe(reserved);
  expect(t.upstream.billedTokens()).toBe(0);
  server.close();
});
