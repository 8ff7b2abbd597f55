// Named quotas (team, API key, …) over HTTP: own key spaces, names in headers and errors, usage, duplicate definitions.
import fc from 'fast-check';
import request from 'supertest';
import { countChatTokens, createTokenBudget, StoreUnavailableError, TokenBudgetConfigError, type Store } from '../../lib';
import { quotaScopeKey, userScopeKey } from '../../lib/store/keys';
import type { BudgetWarning, QuotaOptions } from '../../lib';
import { FEATURES, startTestApp, words, type TestApp } from '../helpers/app';

const features = { chat: { maxInput: 1000, maxOutput: 1000, model: 'gpt-4o' } };

interface TestUser {
  id: string;
  plan: string;
}
const userOf = (req: unknown) => (req as { user?: TestUser }).user;
/** The team comes from the app's own auth; in tests, from a header the test app trusts. */
const teamOf = (req: unknown) => (req as { get(name: string): string | undefined }).get('x-test-team');

/** A user message whose prompt is exactly `n` tokens. */
function promptOf(n: number) {
  const base = countChatTokens([{ role: 'user', content: 'word' }], { model: 'gpt-4o' });
  return { messages: [{ role: 'user' as const, content: words(n - base + 1) }] };
}

let t: TestApp;
afterEach(() => t?.close());

function teamApp(team: Partial<QuotaOptions> = {}, userLimit = 1000) {
  return startTestApp({
    users: true,
    budget: { features },
    upstream: { completionTokens: (_r, cap) => cap },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.userQuota({ user: (req) => userOf(req)?.id, limits: userLimit }),
      b.quota({ name: 'team', key: teamOf, limits: 500, ...team }),
      b.llmHandler({ client }),
    ],
  });
}

const chat = (user: string, team: string | undefined, tokens: number) => {
  const req = request(t.app).post('/chat').set('x-test-user', user);
  return (team === undefined ? req : req.set('x-test-team', team)).send(promptOf(tokens));
};

test('a team quota and the user quota are two budgets: both cap the call, both are named in the headers', async () => {
  t = await teamApp({}, 300);
  const res = await chat('alice', 'acme', 100);
  expect(res.status).toBe(200);
  // The user's 300 is the tighter: 200 output tokens, not the team's 400.
  expect(t.upstream.calls[0]!.request.body.max_tokens).toBe(200);
  expect(res.headers['ratelimit-policy']).toBe('"user";q=300;w=86400, "team";q=500;w=86400');
  expect(res.headers.ratelimit).toMatch(/^"user";r=0;t=\d+, "team";r=200;t=\d+$/);
  expect(await t.budget.usage.user('alice')).toMatchObject({ used: 300, limit: 300, remaining: 0 });
  expect(await t.budget.usage.quota('team', 'acme')).toMatchObject({ used: 300, limit: 500, remaining: 200 });
});

test('a used-up team quota is a 429 quota_exceeded naming the team scope; other teams and the user are untouched', async () => {
  t = await teamApp();
  expect((await chat('alice', 'acme', 100)).status).toBe(200); // 100 + 400 output: the team's 500 are gone
  const res = await chat('bob', 'acme', 10);
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ type: 'quota_exceeded', scope: 'team', limit: 500, remaining: 0 });
  expect(res.body.error.message).toBe(
    'This request needs at least 11 tokens (10 input + 1 output), and the team token quota for this period has 0 left.',
  );
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(res.headers['ratelimit-policy']).toBe('"user";q=1000;w=86400, "team";q=500;w=86400');
  expect((await chat('bob', 'globex', 10)).status).toBe(200);
  expect(await t.budget.usage.user('bob')).toMatchObject({ used: t.upstream.calls[1]!.usage!.total_tokens });
});

test('the user quota still refuses as user_quota_exceeded beside a team quota', async () => {
  t = await teamApp({ limits: 100_000 }, 300);
  await chat('carol', 'acme', 100);
  const res = await chat('carol', 'acme', 10);
  expect(res.status).toBe(429);
  expect(res.body.error).toMatchObject({ type: 'user_quota_exceeded', scope: 'user', limit: 300 });
});

test('a request without a team: 403 principal_required naming the quota, or the shared anonymous budget', async () => {
  t = await teamApp();
  const res = await chat('dan', undefined, 10);
  expect(res.status).toBe(403);
  expect(res.body.error).toEqual({
    type: 'principal_required',
    message: 'This feature is budgeted per team, and this request has none.',
    scope: 'team',
  });
  expect(t.upstream.calls).toHaveLength(0);
  await t.close();
  t = await teamApp({ limits: { solo: 200, org: 5000 }, anonymous: { tier: 'solo' } });
  expect((await chat('dan', undefined, 100)).status).toBe(200);
  expect((await chat('erin', undefined, 10)).status).toBe(429);
  // A team literally called "anonymous" is a team like any other.
  expect((await chat('erin', 'anonymous', 10)).status).toBe(200);
});

test('one user id and one team id with the same text never share a counter', async () => {
  t = await teamApp();
  await chat('same', 'same', 100);
  expect(await t.budget.usage.user('same')).toMatchObject({ used: 500 });
  expect(await t.budget.usage.quota('team', 'same')).toMatchObject({ used: 500 });
  await chat('other', 'same', 10).expect(429);
  expect(await t.budget.usage.user('other')).toMatchObject({ used: 0 });
});

test('numeric and string ids name one principal', async () => {
  t = await startTestApp({
    budget: { features },
    upstream: { completionTokens: () => 5 },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.quota({ name: 'key', key: (req) => (req.get('x-numeric') ? Number(req.get('x-key')) : req.get('x-key')), limits: 1000 }),
      b.llmHandler({ client }),
    ],
  });
  await request(t.app).post('/chat').set('x-key', '1').set('x-numeric', 'yes').send(promptOf(100)).expect(200);
  await request(t.app).post('/chat').set('x-key', '1').send(promptOf(100)).expect(200);
  expect(await t.budget.usage.quota('key', 1)).toMatchObject({ used: 210 });
  expect(await t.budget.usage.quota('key', '1')).toMatchObject({ used: 210 });
});

test("budget.quota({ name: 'user' }) is the user quota: same counter, user errors", async () => {
  t = await startTestApp({
    users: true,
    budget: { features },
    upstream: { completionTokens: (_r, cap) => cap },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.quota({ name: 'user', key: (req) => userOf(req)?.id, limits: 300 }),
      b.llmHandler({ client }),
    ],
  });
  await chat('frank', undefined, 100).expect(200);
  expect(await t.budget.usage.user('frank')).toMatchObject({ used: 300 });
  const res = await chat('frank', undefined, 10);
  expect(res.body.error).toMatchObject({ type: 'user_quota_exceeded', scope: 'user' });
  expect((await request(t.app).post('/chat').send(promptOf(10))).body.error).toMatchObject({
    type: 'user_required',
    scope: 'user',
  });
});

test('usageHandler({ quota }) reports the requester’s team; the default is the user quota', async () => {
  t = await teamApp();
  // startTestApp({ users: true }) sets req.user for every route.
  t.app.get('/usage/team', t.budget.usageHandler({ quota: 'team' }));
  t.app.get('/usage/me', t.budget.usageHandler());
  const used = (await chat('gail', 'acme', 50)).body.usage.total_tokens;
  const team = await request(t.app).get('/usage/team').set('x-test-user', 'gail').set('x-test-team', 'acme');
  expect(team.status).toBe(200);
  expect(team.body).toMatchObject({ used, limit: 500, remaining: 500 - used });
  expect(team.headers['ratelimit-policy']).toBe('"team";q=500;w=86400');
  expect(team.headers['cache-control']).toBe('no-store');
  const other = await request(t.app).get('/usage/team').set('x-test-user', 'gail').set('x-test-team', 'globex');
  expect(other.body).toMatchObject({ used: 0, limit: 500 });
  const me = await request(t.app).get('/usage/me').set('x-test-user', 'gail');
  expect(me.body).toMatchObject({ used, limit: 1000 });
  expect(me.headers['ratelimit-policy']).toBe('"user";q=1000;w=86400');
  const noTeam = await request(t.app).get('/usage/team').set('x-test-user', 'gail');
  expect(noTeam.status).toBe(403);
  expect(noTeam.body.error.type).toBe('principal_required');
});

describe('each quota option reaches the budget', () => {
  function optionApp(team: Partial<QuotaOptions>, budget: Partial<Parameters<typeof createTokenBudget>[0]> = {}) {
    return startTestApp({
      budget: { features, ...budget },
      upstream: { completionTokens: (_r, cap) => cap },
      chain: (b, client) => [
        b.featureBudget('chat'),
        b.quota({
          name: 'team',
          key: teamOf,
          tier: (req) => req.get('x-test-tier'),
          limits: { small: 200, large: 600 },
          ...team,
        }),
        b.llmHandler({ client }),
      ],
    });
  }
  const call = (team: string, tokens: number, tier?: string) => {
    const req = request(t.app).post('/chat').set('x-test-team', team);
    return (tier === undefined ? req : req.set('x-test-tier', tier)).send(promptOf(tokens));
  };

  test('tier picks the limit; defaultTier serves an unknown or missing tier (default: the smallest)', async () => {
    t = await optionApp({});
    await call('a', 100, 'large').expect(200);
    await call('b', 100, 'huge').expect(200);
    await call('c', 100).expect(200);
    expect(t.upstream.calls.map((c) => c.request.body.max_tokens)).toEqual([500, 100, 100]);
    await t.close();
    t = await optionApp({ defaultTier: 'large' });
    await call('d', 100, 'huge').expect(200);
    await call('e', 100, 'small').expect(200);
    expect(t.upstream.calls.map((c) => c.request.body.max_tokens)).toEqual([500, 100]);
  });

  test('period and timeZone set the window, its reset and its headers', async () => {
    // Read before and after the request, so that a boundary passed meanwhile cannot fail the test.
    const around = async (next: () => Date, send: () => Promise<request.Response>) => {
      const before = next().toISOString();
      const res = await send();
      return { res, expected: [before, next().toISOString()] };
    };
    const nextHour = () => {
      const d = new Date();
      d.setUTCMinutes(60, 0, 0);
      return d;
    };
    // Tokyo has no DST: its midnight is 15:00 UTC.
    const nextTokyoMidnight = () => {
      const d = new Date();
      d.setUTCHours(15, 0, 0, 0);
      if (d.getTime() <= Date.now()) d.setUTCDate(d.getUTCDate() + 1);
      return d;
    };
    t = await optionApp({ period: 'hour' });
    await call('h', 100).expect(200);
    const hourly = await around(nextHour, () => call('h', 10));
    expect(hourly.res.status).toBe(429);
    expect(hourly.expected).toContain(hourly.res.body.error.reset_at);
    expect(hourly.res.headers['ratelimit-policy']).toBe('"team";q=200;w=3600');
    await t.close();
    t = await optionApp({ timeZone: 'Asia/Tokyo' });
    await call('z', 100).expect(200);
    const tokyo = await around(nextTokyoMidnight, () => call('z', 10));
    expect(tokyo.expected).toContain(tokyo.res.body.error.reset_at);
    expect(tokyo.res.headers['ratelimit-policy']).toBe('"team";q=200;w=86400');
  });

  test("onStoreUnavailable overrides the budget's policy while the store is down", async () => {
    const down = new StoreUnavailableError('down for the test');
    const deadStore: Store = {
      reserve: () => Promise.reject(down),
      settle: () => Promise.reject(down),
      release: () => Promise.reject(down),
      usage: () => Promise.reject(down),
    };
    t = await optionApp({}, { store: deadStore, onStoreUnavailable: 'fail-open' });
    await call('f', 10).expect(200);
    await t.close();
    t = await optionApp({ onStoreUnavailable: 'fail-closed' }, { store: deadStore, onStoreUnavailable: 'fail-open' });
    const closed = await call('f', 10);
    expect(closed.status).toBe(503);
    expect(closed.body.error.type).toBe('budget_unavailable');
    await t.close();
    t = await optionApp({ onStoreUnavailable: 'fail-open' }, { store: deadStore, onStoreUnavailable: 'fail-closed' });
    await call('f', 10).expect(200);
  });
});

describe('configuration mistakes are caught when the routes are built', () => {
  const budget = () => createTokenBudget({ features: FEATURES, onWarning: () => {} });
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(TokenBudgetConfigError);
      return (err as TokenBudgetConfigError).code;
    }
    throw new Error('no configuration error');
  };

  test('one name with two definitions is TB_DUPLICATE_QUOTA', () => {
    const b = budget();
    b.quota({ name: 'team', key: teamOf, limits: { free: 100, pro: 1000 } });
    expect(code(() => b.quota({ name: 'team', key: teamOf, limits: { free: 100, pro: 2000 } }))).toBe('TB_DUPLICATE_QUOTA');
    expect(code(() => b.quota({ name: 'team', key: teamOf, limits: { free: 100, pro: 1000 }, period: 'month' }))).toBe(
      'TB_DUPLICATE_QUOTA',
    );
    expect(code(() => b.quota({ name: 'team', key: teamOf, limits: { free: 100, pro: 1000 }, timeZone: 'Europe/Paris' }))).toBe(
      'TB_DUPLICATE_QUOTA',
    );
    expect(code(() => b.quota({ name: 'team', key: teamOf, limits: { free: 100, pro: 1000 }, defaultTier: 'pro' }))).toBe(
      'TB_DUPLICATE_QUOTA',
    );
    expect(
      code(() => b.quota({ name: 'team', key: teamOf, limits: { free: 100, pro: 1000 }, anonymous: { tier: 'free' } })),
    ).toBe('TB_DUPLICATE_QUOTA');
    // The mistake: a second userQuota keyed by team id with the team's limit.
    b.userQuota({ user: (req) => userOf(req)?.id, limits: 10_000 });
    expect(code(() => b.userQuota({ user: teamOf, limits: 2_000_000 }))).toBe('TB_DUPLICATE_QUOTA');
  });

  test('the same definition mounted on several routes is one budget, whatever its key functions and error options', () => {
    const b = budget();
    b.quota({ name: 'team', key: teamOf, limits: { free: 100, pro: 1000 } });
    expect(() =>
      b.quota({
        name: 'team',
        key: (req) => teamOf(req),
        limits: { pro: 1000, free: 100 },
        onStoreUnavailable: 'fail-closed',
        errors: 'next',
      }),
    ).not.toThrow();
    expect(() => b.quota({ name: 'user', key: (req) => userOf(req)?.id, limits: 5 })).not.toThrow();
    expect(() => b.userQuota({ user: (req) => userOf(req)?.id, limits: 5 })).not.toThrow();
  });

  test('bad names, keys and quota look-ups', () => {
    const b = budget();
    for (const name of ['feature', 'global', 'a:b', '', 'x'.repeat(65), 'tëam', undefined]) {
      expect(code(() => b.quota({ name, key: teamOf, limits: 1 } as QuotaOptions))).toBe('TB_INVALID_OPTION');
    }
    expect(code(() => b.quota({ name: 'team', key: 'teamId', limits: 1 } as unknown as QuotaOptions))).toBe('TB_INVALID_OPTION');
    expect(code(() => b.quota({ name: 'team', key: teamOf, limits: {} }))).toBe('TB_INVALID_OPTION');
    expect(code(() => b.quota({ name: 'team', key: teamOf, limits: 0 }))).toBe('TB_INVALID_LIMIT');
    expect(code(() => b.usageHandler({ quota: 'team' }))).toBe('TB_INVALID_OPTION');
    expect(code(() => b.usageHandler())).toBe('TB_INVALID_OPTION');
  });

  // The message names the option at fault and what it must be: the app's developer fixes it from the message alone.
  test.each([
    [
      { limits: {} },
      'TB_INVALID_OPTION',
      'quota("team").limits must be a number or an object of tier → tokens, e.g. { free: 10000 }.',
    ],
    [
      { limits: null },
      'TB_INVALID_OPTION',
      'quota("team").limits must be a number or an object of tier → tokens, e.g. { free: 10000 }.',
    ],
    [{ limits: 0 }, 'TB_INVALID_LIMIT', 'quota("team").limits must be a positive integer; got 0.'],
    [{ limits: { free: 100, pro: 1.5 } }, 'TB_INVALID_LIMIT', 'quota("team").limits.pro must be a positive integer; got 1.5.'],
    [
      { limits: { free: 100 }, defaultTier: 'gold' },
      'TB_INVALID_OPTION',
      'quota("team").defaultTier "gold" is not a key of limits.',
    ],
    [
      { limits: { free: 100 }, anonymous: { tier: 'gold' } },
      'TB_INVALID_OPTION',
      'quota("team").anonymous must be \'reject\' or { tier } with a tier of limits.',
    ],
    [
      { limits: { free: 100 }, anonymous: 'allow' },
      'TB_INVALID_OPTION',
      'quota("team").anonymous must be \'reject\' or { tier } with a tier of limits.',
    ],
    [{ limits: 100, period: 'year' }, 'TB_INVALID_OPTION', 'quota("team").period must be one of hour, day, week, month.'],
    [{ limits: 100, timeZone: 'Mars/Base' }, 'TB_INVALID_OPTION', 'quota("team").timeZone "Mars/Base" is not an IANA time zone.'],
    [
      { limits: 100, key: 'teamId' },
      'TB_INVALID_OPTION',
      'quota("team") needs { key: req => id }: the id must come from the app (e.g. req.user), not the client.',
    ],
    [
      { limits: 100, name: 'global' },
      'TB_INVALID_OPTION',
      'quota("global"): "global" names another budget in errors and headers; choose another quota name.',
    ],
  ] as const)('quota(%j) is refused with its own message', (options, errorCode, message) => {
    const b = budget();
    expect(() => b.quota({ name: 'team', key: teamOf, ...options } as unknown as QuotaOptions)).toThrow(
      new TokenBudgetConfigError(errorCode, message),
    );
  });

  test('the messages of a second definition, of a quota not created yet, and of an unusable id', async () => {
    const b = budget();
    expect(() => b.usageHandler({ quota: 'team' })).toThrow(
      new TokenBudgetConfigError(
        'TB_INVALID_OPTION',
        "usageHandler({ quota: 'team' }) needs budget.quota({ name: 'team', ... }) to be created first.",
      ),
    );
    b.quota({ name: 'team', key: teamOf, limits: 100 });
    expect(() => b.quota({ name: 'team', key: teamOf, limits: 200 })).toThrow(
      new TokenBudgetConfigError(
        'TB_DUPLICATE_QUOTA',
        'quota("team") is already defined with other limits, defaultTier, anonymous, period or timeZone; ' +
          'mount one name with one definition, or give the other budget another name.',
      ),
    );
    await expect(b.usage.quota('team', '')).rejects.toThrow(
      new TypeError('usage of quota "team": the id must be a non-empty string or a finite number.'),
    );
  });

  test('usage of an unknown quota or with an unusable id rejects', async () => {
    const b = budget();
    await expect(b.usage.quota('team', 'acme')).rejects.toMatchObject({ code: 'TB_INVALID_OPTION' });
    await expect(b.usage.user('alice')).rejects.toMatchObject({ code: 'TB_INVALID_OPTION' });
    b.quota({ name: 'team', key: teamOf, limits: 1 });
    for (const id of ['', NaN, Infinity, null, {}])
      await expect(b.usage.quota('team', id as string)).rejects.toBeInstanceOf(TypeError);
  });
});

test('an id function returning an object is the app’s mistake: 500 internal_error, warned once', async () => {
  const warnings: BudgetWarning[] = [];
  t = await startTestApp({
    budget: { features, onWarning: (w) => warnings.push(w) },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.quota({ name: 'team', key: () => ({ id: 1 }) as never, limits: 1000 }),
      b.llmHandler({ client }),
    ],
  });
  for (let i = 0; i < 3; i++) {
    const res = await request(t.app).post('/chat').send(promptOf(10));
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.type).toBe('internal_error');
    expect(JSON.stringify(res.body)).not.toContain('quota("team")');
  }
  expect(warnings.map((w) => w.code)).toEqual(['TB_INVALID_PRINCIPAL']);
  expect(warnings[0]!.message).toBe(
    'quota("team"): the id function returned object; return a string, a finite number, or undefined for none.',
  );
  expect(t.upstream.calls).toHaveLength(0);
});

// A number that names no counter is a mistake told by its value; an empty id or null is no principal at all.
test.each([
  [
    NaN,
    500,
    'internal_error',
    'quota("team"): the id function returned NaN; return a string, a finite number, or undefined for none.',
  ],
  [
    -Infinity,
    500,
    'internal_error',
    'quota("team"): the id function returned -Infinity; return a string, a finite number, or undefined for none.',
  ],
  ['', 403, 'principal_required', undefined],
  [null, 403, 'principal_required', undefined],
])('an id function returning %p: %i %s', async (id, status, type, warning) => {
  const warnings: BudgetWarning[] = [];
  t = await startTestApp({
    budget: { features, onWarning: (w) => warnings.push(w) },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.quota({ name: 'team', key: () => id as never, limits: 1000 }),
      b.llmHandler({ client }),
    ],
  });
  const res = await request(t.app).post('/chat').send(promptOf(10));
  expect([res.status, res.body.error.type]).toEqual([status, type]);
  expect(warnings.map((w) => w.message)).toEqual(warning === undefined ? [] : [warning]);
  expect(t.upstream.calls).toHaveLength(0);
});

describe('keys: every (quota name, id) pair has its own counter', () => {
  const hostile = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(':', '{', '}', '{a}', 'a:b', '\n', 'i=x', 'h=x', 'u=x', '\uD800', '\uDC00', 'anonymous', 'x'.repeat(10_000)),
    fc.string({ unit: fc.constantFrom('a', ':', '{', '}', '=', '.', '@', 'i', 'h', 'u', '\n'), maxLength: 12 }),
  );
  const name = fc.oneof(
    fc.constantFrom('user', 'team', 'org', 'key', 'u', 'q', 'a', 'i', 'h'),
    fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/),
  );
  const principal = fc.record({ name, id: fc.option(hostile, { nil: undefined }) });

  test('distinct pairs never share a key; equal pairs always do', () => {
    fc.assert(
      fc.property(principal, principal, fc.constantFrom('day', 'month@Europe/Paris'), (a, b, period) => {
        const same = a.name === b.name && a.id === b.id;
        expect(quotaScopeKey(a.name, a.id, period) === quotaScopeKey(b.name, b.id, period)).toBe(same);
      }),
      { numRuns: 5000 },
    );
  });

  test('the user quota keeps its historical keys; other quotas live under q:', () => {
    expect(quotaScopeKey('user', 'alice', 'day')).toBe('u:{u=alice}:day');
    expect(quotaScopeKey('user', 'alice', 'day')).toBe(userScopeKey('alice', 'day'));
    expect(quotaScopeKey('user', undefined, 'day')).toBe('a:{anonymous}:day');
    expect(quotaScopeKey('team', 'acme', 'day')).toBe('q:{team:i=acme}:day');
    expect(quotaScopeKey('team', undefined, 'day')).toBe('q:{team}:day');
    expect(quotaScopeKey('team', 'a:b', 'day')).toMatch(/^q:\{team:h=[A-Za-z0-9_-]{43}\}:day$/);
    expect(quotaScopeKey('team', 'x'.repeat(10_000), 'day').length).toBeLessThan(100);
  });
});
