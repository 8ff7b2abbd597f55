// Errors: BudgetRefusal is an http-errors error; errorHandler() answers run() refusals, SDK errors and bad bodies as JSON; app mistakes are 500 JSON, warned once.
import { gzipSync } from 'node:zlib';
import createError from 'http-errors';
import OpenAI from 'openai';
import request from 'supertest';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { BudgetRefusal, countChatTokens, createTokenBudget } from '../../lib';
import type { BudgetWarning, RefusalType, RejectHandler } from '../../lib';
import type { BudgetContext } from '../../lib/context';
import { refusalOf } from '../../lib/steps/errorHandler';
import { EXPRESS, startTestApp, words, type TestApp } from '../helpers/app';

const features = { chat: { maxInput: 1000, maxOutput: 1000, model: 'gpt-4o' } };
const userOf = (req: unknown) => (req as { user?: { id: string } }).user?.id;

function promptOf(n: number) {
  const base = countChatTokens([{ role: 'user', content: 'word' }], { model: 'gpt-4o' });
  return { messages: [{ role: 'user' as const, content: words(n - base + 1) }] };
}

/** A custom handler as the docs show it (docs/reference/llmHandler.md): run() around the app's own SDK call, failures to next(). */
function customHandler(client: OpenAI, requestOptions: OpenAI.RequestOptions = {}): RequestHandler {
  return async (req, res, next) => {
    try {
      res.json(await req.tokenBudget!.run((params) => client.chat.completions.create(params as never, requestOptions)));
    } catch (err) {
      next(err);
    }
  };
}

let t: TestApp;
afterEach(() => t?.close());

describe('BudgetRefusal', () => {
  const statuses: Array<[RefusalType, number]> = [
    ['invalid_request', 400],
    ['user_required', 401],
    ['principal_required', 403],
    ['input_too_large', 413],
    ['feature_quota_exceeded', 429],
    ['user_quota_exceeded', 429],
    ['quota_exceeded', 429],
    ['global_rate_limited', 429],
    ['internal_error', 500],
    ['upstream_error', 502],
    ['budget_unavailable', 503],
    ['feature_disabled', 503],
    ['upstream_rate_limited', 503],
    ['upstream_timeout', 504],
  ];

  test.each(statuses)('%s is an http-errors error with status %d and the JSON body', (type, status) => {
    const refusal = new BudgetRefusal(type, 'why', { retryAfterSeconds: 7 });
    expect(createError.isHttpError(refusal)).toBe(true);
    expect(refusal).toBeInstanceOf(Error);
    expect(refusal).toMatchObject({ status, statusCode: status, expose: true, type, headers: { 'Retry-After': '7' } });
    expect(refusal.body).toEqual({ error: { type, message: 'why' } });
  });

  test('a quota refusal names its scope and figures, never its key', () => {
    const scope = {
      kind: 'quota' as const,
      name: 'team',
      key: 'q:{team:i=acme}:day',
      limit: 500,
      used: 500,
      remaining: 0,
      resetAtMs: Date.UTC(2026, 0, 2),
    };
    const refusal = new BudgetRefusal('quota_exceeded', 'used up', { scope });
    expect(refusal.body.error).toEqual({
      type: 'quota_exceeded',
      message: 'used up',
      scope: 'team',
      limit: 500,
      remaining: 0,
      reset_at: '2026-01-02T00:00:00.000Z',
    });
    expect(JSON.stringify(refusal.body)).not.toContain('acme');
  });
});

function spentUserApp(express: (typeof EXPRESS)['Express 5'], withErrorHandler: boolean) {
  return startTestApp({
    express,
    users: true,
    budget: { features },
    upstream: { completionTokens: (_r, cap) => cap },
    chain: (b, client) => {
      const chain = [b.featureBudget('chat'), b.userQuota({ user: userOf, limits: 300 }), customHandler(client)];
      return withErrorHandler
        ? chain
        : [
            ...chain,
            ((err, _req, res, _next) => res.status(err.status).set(err.headers).send('app page')) as ErrorRequestHandler as never,
          ];
    },
  });
}

describe.each(Object.entries(EXPRESS))('a refusal thrown by run() (%s)', (_name, express) => {
  test('budget.errorHandler() answers it as the documented JSON, with Retry-After and RateLimit', async () => {
    t = await spentUserApp(express, true);
    await request(t.app).post('/chat').set('x-test-user', 'ann').send(promptOf(100)).expect(200);
    const res = await request(t.app).post('/chat').set('x-test-user', 'ann').send(promptOf(10));
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error).toMatchObject({ type: 'user_quota_exceeded', scope: 'user', limit: 300, remaining: 0 });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.headers['ratelimit-policy']).toBe('"user";q=300;w=86400');
    expect(t.upstream.calls).toHaveLength(1);
  });

  test("an app's own error handler gets its status and headers", async () => {
    t = await spentUserApp(express, false);
    await request(t.app).post('/chat').set('x-test-user', 'ann').send(promptOf(100)).expect(200);
    const res = await request(t.app).post('/chat').set('x-test-user', 'ann').send(promptOf(10));
    expect(res.status).toBe(429);
    expect(res.text).toBe('app page');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });
});

test("Express's default handler answers a run() refusal with its status and Retry-After", async () => {
  const budget = createTokenBudget({ features, onWarning: () => {} });
  const app = EXPRESS['Express 5']();
  app.use(EXPRESS['Express 5'].json());
  app.post(
    '/chat',
    budget.featureBudget('chat'),
    budget.userQuota({ user: () => 'u', limits: 10 }),
    customHandler(new OpenAI({ apiKey: 'x', baseURL: 'http://127.0.0.1:9/v1' })),
  );
  const res = await request(app).post('/chat').send(promptOf(20));
  expect(res.status).toBe(429);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
});

describe('errorHandler() maps the SDK errors of a custom handler as llmHandler does, never quoting the upstream', () => {
  const SECRET = 'sk-test-secret-key-0123456789';
  const cases: Array<[string, number, Record<string, string>, number, string]> = [
    ['401', 401, {}, 502, 'upstream_error'],
    ['403', 403, {}, 502, 'upstream_error'],
    ['404', 404, {}, 502, 'upstream_error'],
    ['429', 429, { 'retry-after': '7' }, 503, 'upstream_rate_limited'],
    ['500', 500, {}, 502, 'upstream_error'],
    ['503', 503, {}, 502, 'upstream_error'],
  ];
  test.each(cases)('upstream %s', async (_name, status, headers, answered, type) => {
    t = await startTestApp({
      upstream: { behave: () => ({ kind: 'error', status, headers, message: `Incorrect API key provided: ${SECRET}` }) },
      chain: (b, client) => [b.featureBudget('chat'), customHandler(client)],
    });
    const res = await request(t.app).post('/chat').send(promptOf(10));
    expect(res.status).toBe(answered);
    expect(res.body.error.type).toBe(type);
    expect(res.text).not.toContain('sk-test');
    expect(res.text).not.toContain('Incorrect');
    if (status === 429) expect(res.headers['retry-after']).toBe('7');
  });

  test('a connection refused', async () => {
    const unreachable = new OpenAI({ apiKey: SECRET, baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0 });
    t = await startTestApp({ chain: (b) => [b.featureBudget('chat'), customHandler(unreachable)] });
    const res = await request(t.app).post('/chat').send(promptOf(10));
    expect(res.status).toBe(502);
    expect(res.body.error).toEqual({ type: 'upstream_error', message: 'The model provider could not be reached.' });
  });

  test("the SDK's time-out", async () => {
    // Under Jest's sandbox the SDK cannot recognise fetch's AbortError and reports a time-out
    // as a connection error; in a plain Node process it throws this class.
    t = await startTestApp({
      chain: (b) => [
        b.featureBudget('chat'),
        async (req, res, next) => {
          try {
            res.json(await req.tokenBudget!.run(async () => Promise.reject(new OpenAI.APIConnectionTimeoutError())));
          } catch (err) {
            next(err);
          }
        },
      ],
    });
    const res = await request(t.app).post('/chat').send(promptOf(10));
    expect(res.status).toBe(504);
    expect(res.body.error).toEqual({ type: 'upstream_timeout', message: 'The model provider did not answer in time.' });
  });

  test("the app's own errors with a status go on to its handlers untouched", async () => {
    const seen: unknown[] = [];
    const thrown = [createError(404, 'no such thing'), Object.assign(new Error('teapot'), { status: 418 })];
    t = await startTestApp({ chain: () => [(req, _res, next) => next(thrown[Number(req.get('x-case'))])] });
    t.app.use(((err, _req, res, _next) => {
      seen.push(err);
      res.status(299).end();
    }) as ErrorRequestHandler);
    for (const i of [0, 1])
      expect((await request(t.app).post('/chat').set('x-case', String(i)).send(promptOf(10))).status).toBe(299);
    expect(seen).toEqual(thrown);
  });
});

describe.each(Object.entries(EXPRESS))('bodies that cannot be read (%s)', (_name, express) => {
  test.each([
    ['gzip that is not gzip', 'gzip', Buffer.from('{"messages": []}')],
    ['deflate that is not deflate', 'deflate', Buffer.from('{"messages": []}')],
    ['gzip cut short', 'gzip', gzipSync(JSON.stringify(promptOf(10))).subarray(0, 12)],
  ])('%s: 400 invalid_request JSON', async (_case, encoding, body) => {
    t = await startTestApp({ express });
    const res = await request(t.app)
      .post('/chat')
      .set('content-type', 'application/json')
      .set('content-encoding', encoding)
      .send(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      type: 'invalid_request',
      message: 'The request body could not be read; check its Content-Encoding.',
    });
    expect(t.upstream.calls).toHaveLength(0);
  });
});

describe('app mistakes answer 500 JSON internal_error and warn once on the server', () => {
  const warnings: BudgetWarning[] = [];
  beforeEach(() => warnings.splice(0));

  test.each([
    [
      'userQuota',
      (b: TestApp['budget'], client: OpenAI) => [b.userQuota({ user: () => 'u', limits: 100 }), b.llmHandler({ client })],
    ],
    [
      'quota("team")',
      (b: TestApp['budget'], client: OpenAI) => [
        b.quota({ name: 'team', key: () => 't', limits: 100 }),
        b.llmHandler({ client }),
      ],
    ],
    ['globalTpm', (b: TestApp['budget'], client: OpenAI) => [b.globalTpm({ limit: 1000 }), b.llmHandler({ client })]],
    ['llmHandler', (b: TestApp['budget'], client: OpenAI) => [b.llmHandler({ client })]],
  ])('%s without featureBudget first: TB_NO_FEATURE_BUDGET', async (name, chain) => {
    t = await startTestApp({ budget: { onWarning: (w) => warnings.push(w) }, chain: (b, client) => chain(b, client) });
    for (let i = 0; i < 3; i++) {
      const res = await request(t.app).post('/chat').send(promptOf(10));
      expect(res.status).toBe(500);
      expect(res.body.error).toEqual({
        type: 'internal_error',
        message: 'This request cannot be served because of a server configuration error.',
      });
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'TB_NO_FEATURE_BUDGET' });
    expect(warnings[0]!.message).toMatch(new RegExp(`^${name.replace(/[()]/g, '\\$&')} ran without budget.featureBudget`));
    expect(t.upstream.calls).toHaveLength(0);
  });

  const throwing: Array<[string, RejectHandler]> = [
    [
      'throws',
      () => {
        throw new Error('bug in onReject');
      },
    ],
    [
      'rejects',
      (async () => {
        throw new Error('bug in async onReject');
      }) as RejectHandler,
    ],
  ];
  test.each(throwing)('an onReject that %s: TB_ON_REJECT_FAILED', async (_how, onReject) => {
    t = await startTestApp({
      users: true,
      budget: { features, onReject, onWarning: (w) => warnings.push(w) },
      chain: (b, client) => [b.featureBudget('chat'), b.userQuota({ user: userOf, limits: 100 }), b.llmHandler({ client })],
    });
    for (let i = 0; i < 2; i++) {
      const res = await request(t.app).post('/chat').send(promptOf(10)); // no user: a refusal for onReject
      expect(res.status).toBe(500);
      expect(res.body.error.type).toBe('internal_error');
    }
    expect(warnings.map((w) => w.code)).toEqual(['TB_ON_REJECT_FAILED']);
    expect(warnings[0]!.message).toContain('bug in');
  });

  test("errorHandler() answers through the budget's onReject", async () => {
    t = await startTestApp({
      budget: { onReject: (err, _req, res) => void res.status(err.status).json({ mine: err.type }) },
      chain: (b) => [b.featureBudget('chat')],
    });
    const res = await request(t.app).post('/chat').set('content-type', 'application/json').send('{"messages": [');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ mine: 'invalid_request' });
  });
});

test("errors: 'next' hands the app's error handler a BudgetRefusal with its status, body and RateLimit headers", async () => {
  const seen: BudgetRefusal[] = [];
  t = await startTestApp({
    users: true,
    budget: { features },
    upstream: { completionTokens: (_r, cap) => cap },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.quota({ name: 'team', key: () => 'acme', limits: 300, errors: 'next' }),
      b.llmHandler({ client, errors: 'next' }),
      ((err, _req, res, _next) => {
        seen.push(err);
        res.status(err.status).json({ custom: true });
      }) as ErrorRequestHandler as never,
    ],
  });
  await request(t.app).post('/chat').send(promptOf(100)).expect(200);
  expect((await request(t.app).post('/chat').send(promptOf(10))).status).toBe(429);
  expect(seen).toHaveLength(1);
  expect(seen[0]).toBeInstanceOf(BudgetRefusal);
  expect(seen[0]!.body.error).toMatchObject({ type: 'quota_exceeded', scope: 'team' });
  expect(seen[0]!.headers['RateLimit-Policy']).toBe('"team";q=300;w=86400');
});

describe('refusalOf: which errors thrown past the routes errorHandler() answers, and with what', () => {
  // Any context: a budget ran for the request, so a stream error without a status is not the body parser's.
  const context = {} as BudgetContext;
  const told = (err: unknown, withContext?: BudgetContext) => {
    const refusal = refusalOf(err, withContext);
    return refusal && [refusal.type, refusal.message];
  };
  const UNREADABLE = ['invalid_request', 'The request body could not be read; check its Content-Encoding.'];
  const zlibError = (fields: object) => Object.assign(new Error('incorrect header check'), fields);

  test('a refusal is answered as it is; what is not an object is left to the app', () => {
    const refusal = new BudgetRefusal('quota_exceeded', 'over');
    expect(refusalOf(refusal, undefined)).toBe(refusal);
    for (const thrown of [null, undefined, 'entity.too.large', 400]) expect(refusalOf(thrown, undefined)).toBeUndefined();
  });

  test("a body parser's error type names what the client is told", () => {
    expect(told(createError(413, 'too large', { type: 'entity.too.large' }))).toEqual([
      'input_too_large',
      'The request body is larger than this server accepts.',
    ]);
    expect(told(createError(400, 'bad', { type: 'entity.parse.failed' }))).toEqual([
      'invalid_request',
      'The request body is not valid JSON.',
    ]);
    expect(told(createError(400, 'odd', { type: 'some.other.failure' }))).toBeUndefined();
  });

  test("co-body's bad JSON is a SyntaxError with status 400 and the text it read; other SyntaxErrors are the app's", () => {
    const parsed = (fields: object, error: Error = new SyntaxError('Unexpected token')) => Object.assign(error, fields);
    expect(told(parsed({ status: 400, body: '{' }))).toEqual(['invalid_request', 'The request body is not valid JSON.']);
    expect(told(parsed({ status: 400 }))).toBeUndefined();
    expect(told(parsed({ status: 500, body: '{' }))).toBeUndefined();
    expect(told(parsed({ status: 400, body: '{' }, new Error('not a SyntaxError')))).toBeUndefined();
  });

  test('a stream error (an errno, no type) is an unreadable body when the parser set 400, or when no budget ran yet and zlib threw it', () => {
    expect(told(zlibError({ errno: -3, status: 400 }), context)).toEqual(UNREADABLE);
    expect(told(zlibError({ errno: -3, code: 'Z_DATA_ERROR' }))).toEqual(UNREADABLE);
    // A budget ran: the error came later, from the app's own code.
    expect(told(zlibError({ errno: -3, code: 'Z_DATA_ERROR' }), context)).toBeUndefined();
    expect(told(zlibError({ errno: -104, code: 'ECONNRESET' }))).toBeUndefined();
    expect(told(zlibError({ errno: -3, code: -3 }))).toBeUndefined();
    expect(told(zlibError({ errno: '-3', status: 400 }))).toBeUndefined();
    expect(told(zlibError({ errno: -3, status: 400, type: 'stream.failed' }))).toBeUndefined();
    expect(told(zlibError({ errno: -3, status: 500 }), context)).toBeUndefined();
  });
});
