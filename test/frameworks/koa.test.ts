// What differs on Koa: onReject takes ctx, errors: 'next' throws to Koa, errorHandler is mounted first, a stream sets ctx.respond = false; each entry's middlewares refuse the other framework clearly, and name its body parser when none ran.
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import express, { type ErrorRequestHandler } from 'express';
import Koa from 'koa';
import { createTokenBudget } from '../../lib';
import { createTokenBudget as createKoaBudget } from '../../lib/koa';
import type { KoaContext, TokenBudgetOptions } from '../../lib/koa';
import { FEATURES, words } from '../helpers/app';
import { startFrameworkApp } from '../helpers/frameworks';

// Loaded untyped: its types add `body?: unknown` to every IncomingMessage (Express's `req.body` too).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { bodyParser } = require('@koa/bodyparser') as { bodyParser: () => Koa.Middleware };

const tooLarge = { messages: [{ role: 'user', content: words(300) }] };

/** Listens, POSTs `body` once (as JSON, or a string as `contentType`), closes; the status and body text. */
async function postOnce(app: Koa | express.Express, body: unknown, contentType = 'application/json') {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: contentType === 'application/json' ? JSON.stringify(body) : String(body),
    });
    return { status: res.status, text: await res.text() };
  } finally {
    server.close();
  }
}

function koaApp(options: Partial<TokenBudgetOptions>, route: (budget: ReturnType<typeof createKoaBudget>) => Koa.Middleware[]) {
  const budget = createKoaBudget({ features: FEATURES, onWarning: () => {}, ...options });
  const app = new Koa();
  const errors: unknown[] = [];
  app.silent = true;
  app.on('error', (err: unknown) => errors.push(err));
  app.use(bodyParser());
  for (const middleware of route(budget)) app.use(middleware);
  return { app, errors };
}

test('onReject receives the refusal and ctx, and shapes the answer', async () => {
  const { app } = koaApp(
    {
      onReject: (error, ctx) => {
        ctx.status = 422;
        ctx.body = { refused: error.type, path: ctx.path };
      },
    },
    (b) => [b.featureBudget('chat')],
  );
  expect(await postOnce(app, tooLarge)).toEqual({ status: 422, text: '{"refused":"input_too_large","path":"/"}' });
});

test("errors: 'next' throws the refusal to Koa, whose own handler answers with its status", async () => {
  const { app, errors } = koaApp({}, (b) => [b.featureBudget('chat', { errors: 'next' })]);
  const res = await postOnce(app, tooLarge);
  expect(res.status).toBe(413);
  expect(errors).toEqual([expect.objectContaining({ type: 'input_too_large', status: 413 })]);
});

test("errorHandler, mounted first, answers a refusal thrown by run() in the app's own handler as the JSON error", async () => {
  let called = 0;
  const { app } = koaApp({}, (b) => [
    b.errorHandler(),
    b.featureBudget('chat'),
    b.userQuota({ user: () => 'u1', limits: 5 }),
    async (ctx) => {
      ctx.body = await ctx.state.tokenBudget!.run(async () => ++called);
    },
  ]);
  const res = await postOnce(app, { messages: [{ role: 'user', content: words(10) }] });
  expect(res.status).toBe(429);
  expect(JSON.parse(res.text)).toMatchObject({ error: { type: 'user_quota_exceeded', scope: 'user', limit: 5 } });
  expect(called).toBe(0);
});

test("a refusal once the app's answer is under way is not written into it: the answer is cut, and the refusal reaches Koa's 'error' event", async () => {
  const { app, errors } = koaApp({}, (b) => [
    b.errorHandler(),
    b.featureBudget('chat'),
    b.userQuota({ user: () => 'u1', limits: 5 }),
    async (ctx) => {
      ctx.res.writeHead(200, { 'content-type': 'text/plain' });
      ctx.res.write('partial');
      await ctx.state.tokenBudget!.run(async () => 'never');
    },
  ]);
  // Koa itself would leave the response open, its client waiting: the client sees it fail at once.
  await expect(postOnce(app, { messages: [{ role: 'user', content: words(10) }] })).rejects.toThrow(/fetch failed|terminated/);
  expect(errors).toEqual([expect.objectContaining({ type: 'user_quota_exceeded', headerSent: true })]);
});

test.each(['Koa 3', 'Koa 2'] as const)(
  '%s: llmHandler tells Koa that it wrote a stream itself (ctx.respond = false) and leaves a JSON answer to Koa',
  async (framework) => {
    const respond: unknown[] = [];
    const recordRespond = async (ctx: KoaContext, next: () => Promise<unknown>) => {
      await next();
      respond.push(ctx.respond);
    };
    const t = await startFrameworkApp(framework, {
      chain: (b, client) => [recordRespond as never, b.featureBudget('chat'), b.llmHandler({ client })],
    });
    try {
      const messages = [{ role: 'user' as const, content: words(10) }];
      const stream = await t.routeClient.chat.completions.create({ model: 'ignored', stream: true, messages }, { path: '/chat' });
      let chunks = 0;
      for await (const _chunk of stream) chunks++;
      expect(chunks).toBeGreaterThan(0);
      await t.routeClient.chat.completions.create({ model: 'ignored', messages }, { path: '/chat' });
      expect(respond).toEqual([false, undefined]);
    } finally {
      await t.stop();
    }
  },
);

test("errorHandler leaves the app's own errors to Koa", async () => {
  const { app } = koaApp({}, (b) => [
    b.errorHandler(),
    () => {
      throw Object.assign(new Error('I am a teapot'), { status: 418, expose: true });
    },
  ]);
  expect(await postOnce(app, {})).toEqual({ status: 418, text: 'I am a teapot' });
});

describe('without a body parser, a JSON body is 500 internal_error and the warning says how to mount one; other types stay 400', () => {
  type OnWarning = TokenBudgetOptions['onWarning'];
  test.each([
    [
      'Koa',
      (onWarning: OnWarning) => new Koa().use(createKoaBudget({ features: FEATURES, onWarning }).featureBudget('chat')),
      '@koa/bodyparser before it, e.g. app.use(bodyParser())',
    ],
    [
      'Express',
      (onWarning: OnWarning) => express().post('/', createTokenBudget({ features: FEATURES, onWarning }).featureBudget('chat')),
      "express.json() before it, e.g. app.use(express.json({ limit: '1mb' }))",
    ],
  ])('%s', async (_name, makeApp, hint) => {
    const warnings: string[] = [];
    const app = makeApp(({ code, message }) => warnings.push(`${code}: ${message}`));
    const res = await postOnce(app, { messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.text).error.type).toBe('internal_error');
    expect(warnings).toEqual([
      `TB_NO_BODY_PARSER: featureBudget received a JSON body that no parser has read (the body is undefined); mount ${hint}.`,
    ]);
    const text = await postOnce(app, 'hello', 'text/plain');
    expect(text.status).toBe(400);
    expect(JSON.parse(text.text).error.type).toBe('invalid_request');
  });
});

test("an Express middleware mounted on Koa throws TB_WRONG_FRAMEWORK naming 'token-budget/koa', and the process lives on", async () => {
  const budget = createTokenBudget({ features: FEATURES });
  const app = new Koa();
  const errors: Error[] = [];
  app.silent = true;
  app.on('error', (err: Error) => errors.push(err));
  app.use(bodyParser());
  app.use(budget.featureBudget('chat') as unknown as Koa.Middleware);
  expect((await postOnce(app, tooLarge)).status).toBe(500);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ code: 'TB_WRONG_FRAMEWORK' });
  expect(errors[0]!.message).toBe(
    "A middleware of 'token-budget' was mounted on Koa; use the Koa middlewares instead: import { createTokenBudget } from 'token-budget/koa'. [TB_WRONG_FRAMEWORK]",
  );
});

test("a Koa middleware mounted on Express passes TB_WRONG_FRAMEWORK naming 'token-budget' to the error handlers", async () => {
  const budget = createKoaBudget({ features: FEATURES });
  const app = express();
  const errors: Error[] = [];
  app.use(express.json());
  app.post('/', budget.featureBudget('chat') as unknown as express.RequestHandler);
  app.use(((err, _req, res, _next) => {
    errors.push(err);
    res.status(500).end();
  }) as ErrorRequestHandler);
  expect((await postOnce(app, tooLarge)).status).toBe(500);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ code: 'TB_WRONG_FRAMEWORK' });
  expect(errors[0]!.message).toBe(
    "A middleware of 'token-budget/koa' was mounted on Express; use the Express middlewares instead: import { createTokenBudget } from 'token-budget'. [TB_WRONG_FRAMEWORK]",
  );
});

describe('@koa/bodyparser failures are answered as JSON by errorHandler(), as on Express', () => {
  function parsingApp() {
    const budget = createKoaBudget({ features: FEATURES, onWarning: () => {} });
    const app = new Koa();
    app.silent = true;
    app.use(budget.errorHandler());
    app.use(bodyParser());
    app.use(budget.featureBudget('chat'));
    return app;
  }

  test.each([
    ['not JSON', '{bad', {}, 400, 'invalid_request', 'not valid JSON'],
    ['gzip that is not gzip', '{"messages":[]}', { 'content-encoding': 'gzip' }, 400, 'invalid_request', 'Content-Encoding'],
    [
      'over the parser limit',
      JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2_000_000) }] }),
      {},
      413,
      'input_too_large',
      'larger',
    ],
  ])('%s', async (_name, body, headers, status, type, words) => {
    const server = parsingApp().listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      expect(res.status).toBe(status);
      const answer = (await res.json()) as { error: { type: string; message: string } };
      expect(answer.error.type).toBe(type);
      expect(answer.error.message).toContain(words);
    } finally {
      server.close();
    }
  });
});
