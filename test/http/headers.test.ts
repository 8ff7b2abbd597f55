// RateLimit headers: one named policy per quota and global limit, paired by key, reset never past the window; set on write for run() routes.
import { ServerResponse } from 'node:http';
import type express5 from 'express';
import type { RequestHandler } from 'express';
import request from 'supertest';
import { countChatTokens } from '../../lib';
import { rateLimitHeaders, setRateLimitHeadersOnWrite } from '../../lib/http/headers';
import type { ScopeRequest, ScopeState } from '../../lib/store/types';
import { EXPRESS, startTestApp, words, type TestApp } from '../helpers/app';
import { loadAnew } from '../helpers/load-anew';

const NOW = Date.UTC(2026, 10, 28, 12);
const day: ScopeRequest['window'] = {
  kind: 'fixed',
  periodAt: () => ({ id: 'd', startMs: Date.UTC(2026, 10, 28), endMs: Date.UTC(2026, 10, 29) }),
};
const minute: ScopeRequest['window'] = { kind: 'sliding', windowMs: 60_000, bucketMs: 1_000 };

const scope = (kind: ScopeRequest['kind'], key: string, window: ScopeRequest['window'], name?: string): ScopeRequest => ({
  kind,
  key,
  limit: 1000,
  onUnavailable: 'fallback',
  window,
  ...(name === undefined ? {} : { name }),
});
const state = (s: ScopeRequest, used: number, resetAtMs: number): ScopeState => ({
  kind: s.kind,
  key: s.key,
  limit: s.limit,
  used,
  remaining: s.limit - used,
  resetAtMs,
});

describe('rateLimitHeaders', () => {
  const feature = scope('feature', 'f:{chat}', day);
  const user = scope('user', 'u:{u=a}:day', day, 'user');
  const team = scope('quota', 'q:{team:i=t}:day', day, 'team');
  const global = { ...scope('global', 'g:{tpm}', minute), inHeaders: true };

  test('one policy per quota, named after it, and one for the global limit; the feature has none', () => {
    const headers = rateLimitHeaders(
      [feature, user, team, global],
      [state(feature, 5, NOW), state(user, 10, NOW + 3600_000), state(team, 20, NOW + 3600_000), state(global, 30, NOW + 30_000)],
      NOW,
    );
    expect(headers).toEqual({
      'RateLimit-Policy': '"user";q=1000;w=86400, "team";q=1000;w=86400, "global";q=1000;w=60',
      RateLimit: '"user";r=990;t=3600, "team";r=980;t=3600, "global";r=970;t=30',
    });
  });

  test('scopes are paired with their states by key, not by position; a scope without a state is left out', () => {
    // An outage policy may report fewer states, in another order.
    const headers = rateLimitHeaders([user, team, global], [state(global, 30, NOW + 1000), state(user, 10, NOW + 1000)], NOW);
    expect(headers.RateLimit).toBe('"user";r=990;t=1, "global";r=970;t=1');
  });

  test("a sliding window's reset is never reported past its window (t=61 against w=60)", () => {
    const headers = rateLimitHeaders([global], [state(global, 1000, NOW + 61_000)], NOW);
    expect(headers).toEqual({ 'RateLimit-Policy': '"global";q=1000;w=60', RateLimit: '"global";r=0;t=60' });
  });

  test('no quota or global scope: no headers', () => {
    expect(rateLimitHeaders([feature], [state(feature, 1, NOW)], NOW)).toEqual({});
  });

  test("a spending cap shows nothing: its figures are the company's money", () => {
    const spend = scope('spend', 's:{spend}:day', day, 'spend');
    expect(rateLimitHeaders([spend, user], [state(spend, 10, NOW + 1000), state(user, 10, NOW + 1000)], NOW)).toEqual({
      'RateLimit-Policy': '"user";q=1000;w=86400',
      RateLimit: '"user";r=990;t=1',
    });
  });

  test('a reset between two seconds is the next whole second; one already past is 0', () => {
    expect(rateLimitHeaders([user], [state(user, 10, NOW + 1_001)], NOW).RateLimit).toBe('"user";r=990;t=2');
    expect(rateLimitHeaders([user], [state(user, 10, NOW - 5_000)], NOW).RateLimit).toBe('"user";r=990;t=0');
  });

  test("a global scope not opted in shows nothing: its figures are the whole service's", () => {
    const hidden = scope('global', 'g:{tpm}', minute);
    expect(rateLimitHeaders([user, hidden], [state(user, 10, NOW + 1000), state(hidden, 30, NOW + 1000)], NOW)).toEqual({
      'RateLimit-Policy': '"user";q=1000;w=86400',
      RateLimit: '"user";r=990;t=1',
    });
  });
});

function promptOf(n: number) {
  const base = countChatTokens([{ role: 'user', content: 'word' }], { model: 'gpt-4o' });
  return { messages: [{ role: 'user' as const, content: words(n - base + 1) }] };
}

/** What featureBudget does for every route: the headers follow the context to the response's head. */
const headersOnWrite: RequestHandler = (req, res, next) => {
  setRateLimitHeadersOnWrite(res, req.tokenBudget!);
  next();
};

/** The prototype right above node's ServerResponse.prototype in the chain of `res`: the framework's own, shared by its apps. */
function frameworkPrototype(res: object): ServerResponse {
  let target = res;
  while (Object.getPrototypeOf(target) !== ServerResponse.prototype) target = Object.getPrototypeOf(target) as object;
  return target as ServerResponse;
}

let t: TestApp;
afterEach(() => t?.close());

describe.each(Object.entries(EXPRESS))('a custom handler around run() (%s)', (_name, express) => {
  function runApp(handler: RequestHandler) {
    return startTestApp({
      express,
      budget: { features: { chat: { maxInput: 1000, maxOutput: 1000, model: 'gpt-4o' } } },
      upstream: { completionTokens: () => 5 },
      chain: (b) => [
        b.featureBudget('chat'),
        headersOnWrite,
        headersOnWrite,
        b.quota({ name: 'team', key: () => 'acme', limits: 300 }),
        b.globalTpm({ limit: 10_000, headers: true }),
        handler,
      ],
    });
  }

  test('gets the RateLimit headers of the settled call', async () => {
    t = await runApp(async (req, res, next) => {
      try {
        const completion = await req.tokenBudget!.run((params) => t.client.chat.completions.create(params as never));
        res.json({ text: completion.choices[0]!.message.content });
      } catch (err) {
        next(err);
      }
    });
    const res = await request(t.app).post('/chat').send(promptOf(100));
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit-policy']).toBe('"team";q=300;w=86400, "global";q=10000;w=60');
    expect(res.headers.ratelimit).toMatch(/^"team";r=195;t=\d+, "global";r=9895;t=([1-5]?\d|60)$/);
  });

  test('and on a refusal it answers itself', async () => {
    t = await runApp(async (req, res) => {
      try {
        await req.tokenBudget!.run(() => {
          throw new Error('not reached');
        });
      } catch {
        res.status(429).send('over budget');
      }
    });
    const res = await request(t.app).post('/chat').send(promptOf(300));
    expect(res.text).toBe('over budget');
    expect(res.headers['ratelimit-policy']).toBe('"team";q=300;w=86400, "global";q=10000;w=60');
    expect(res.headers.ratelimit).toMatch(/^"team";r=300;t=\d+, /);
  });

  test('headers the app set itself are kept', async () => {
    t = await runApp(async (req, res) => {
      await req.tokenBudget!.run((params) => t.client.chat.completions.create(params as never));
      res.set('RateLimit', 'mine').json({});
    });
    const res = await request(t.app).post('/chat').send(promptOf(10));
    expect(res.headers.ratelimit).toBe('mine');
    expect(res.headers['ratelimit-policy']).toMatch(/^"team";q=300/);
  });
});

describe.each([
  ['Express 5', 'express'],
  ['Express 4', 'express4'],
])('where the headers are hooked (%s)', (_name, moduleName) => {
  const limits = { features: { chat: { maxInput: 1000, maxOutput: 1000, model: 'gpt-4o' } } };

  /**
   * A fresh copy of Express, whose shared response prototype no budget has hooked yet, and an app of it; `mount`
   * places the chain (featureBudget, a team quota of 300, then `last`); POST /plain has no budget.
   */
  async function appWith(
    last: (client: TestApp['client']) => RequestHandler,
    mount: (app: express5.Express, express: typeof express5, chain: RequestHandler[]) => void,
  ) {
    t = await startTestApp({ budget: limits, upstream: { completionTokens: () => 5 } });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const express = loadAnew(() => require(moduleName) as typeof express5);
    const chain = [
      t.budget.featureBudget('chat'),
      t.budget.quota({ name: 'team', key: () => 'acme', limits: 300 }),
      last(t.client),
    ];
    const app = express();
    app.use(express.json());
    mount(app, express, chain);
    app.post('/plain', (_req, res) => {
      res.json({ plain: true });
    });
    return app;
  }

  /** A handler that makes the call, then fails: the app's error handler answers. */
  const callThenFail =
    (client: TestApp['client']): RequestHandler =>
    async (req, _res, next) => {
      await req.tokenBudget!.run((params) => client.chat.completions.create(params as never));
      next(new Error('failed after the call'));
    };

  test("the parent app's error handler answering for a route in a sub-app sends them", async () => {
    const app = await appWith(callThenFail, (parent, express, chain) => {
      const sub = express();
      sub.use(express.json());
      sub.post('/chat', ...chain);
      parent.use('/', sub);
      parent.use(((_err, _req, res, _next) => {
        res.status(500).json({ failed: true });
      }) as express5.ErrorRequestHandler);
    });
    const res = await request(app).post('/chat').send(promptOf(10));
    expect(res.status).toBe(500);
    expect(res.headers['ratelimit-policy']).toBe('"team";q=300;w=86400');
    expect(res.headers.ratelimit).toMatch(/^"team";r=\d+;t=\d+$/);
  });

  test('a response whose writeHead is wrapped before the chain (on-headers, say) sends them, and the wrapper runs', async () => {
    let wrapped = 0;
    const app = await appWith(
      (client) => t.budget.llmHandler({ client }),
      (app, _express, chain) => {
        const wrapWriteHead: RequestHandler = (_req, res, next) => {
          const writeHead = res.writeHead;
          res.writeHead = function (this: typeof res, ...args: unknown[]) {
            wrapped++;
            return writeHead.apply(this, args as never);
          } as typeof res.writeHead;
          next();
        };
        app.post('/chat', wrapWriteHead, ...chain);
      },
    );
    for (const size of [10, 400]) {
      const res = await request(app).post('/chat').send(promptOf(size));
      expect(res.headers['ratelimit-policy']).toBe('"team";q=300;w=86400');
    }
    expect(wrapped).toBe(2);
  });

  test("the responses themselves are left as they are, and the framework's prototype is hooked once, not per request", async () => {
    const ownWriteHead: boolean[] = [];
    const sharedWriteHeads = new Set<unknown>();
    const app = await appWith(
      () => async (req, res) => {
        await req.tokenBudget!.run((params) => t.client.chat.completions.create(params as never));
        ownWriteHead.push(Object.hasOwn(res, 'writeHead'));
        sharedWriteHeads.add(frameworkPrototype(res).writeHead);
        res.json({});
      },
      (app, _express, chain) => app.post('/chat', ...chain),
    );
    for (let i = 0; i < 3; i++) {
      expect((await request(app).post('/chat').send(promptOf(10))).headers['ratelimit-policy']).toBe('"team";q=300;w=86400');
    }
    expect(ownWriteHead).toEqual([false, false, false]);
    // A hook wrapped again on each request would nest one more wrapper per request, for as long as the process runs.
    expect(sharedWriteHeads.size).toBe(1);
    expect(sharedWriteHeads.has(ServerResponse.prototype.writeHead)).toBe(false);
  });

  test('a route without a budget, after budgeted ones, answers without them', async () => {
    const app = await appWith(
      (client) => t.budget.llmHandler({ client }),
      (app, _express, chain) => app.post('/chat', ...chain),
    );
    expect((await request(app).post('/chat').send(promptOf(10))).headers['ratelimit-policy']).toBeDefined();
    const plain = await request(app).post('/plain').send({});
    expect(plain.body).toEqual({ plain: true });
    expect(plain.headers['ratelimit-policy']).toBeUndefined();
    expect(plain.headers.ratelimit).toBeUndefined();
  });
});
