// RateLimit headers: one named policy per quota and global limit, paired by key, reset never past the window; set on write for run() routes.
import type { RequestHandler } from 'express';
import request from 'supertest';
import { countChatTokens } from '../../lib';
import { rateLimitHeaders, setRateLimitHeadersOnWrite } from '../../lib/http/headers';
import type { ScopeRequest, ScopeState } from '../../lib/store/types';
import { EXPRESS, startTestApp, words, type TestApp } from '../helpers/app';

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
