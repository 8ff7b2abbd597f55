// createAdminRouter over sources of the test's own: its options read, each route's answer and headers, refusals and failures reported.
import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import type * as Router from '../../lib/admin/router';
import type { AdminSources } from '../../lib/admin/router';
import type { BudgetConfig } from '../../lib/config';
import type { AdminRouterOptions, FlagAudit, UserUsage } from '../../lib/types';
import { loadAnew } from '../helpers/load-anew';

const NOW = Date.UTC(2026, 11, 5, 18, 30);

/**
 * The router loaded in the calling test, with its page: the flag name pattern, the audit line and the assets' table
 * are built as they load, so a mutation run sees a change to them only in a test that loads them.
 */
const createAdminRouter: typeof Router.createAdminRouter = (...args) =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loadAnew(() => require('../../lib/admin/router') as typeof Router).createAdminRouter(...args);

interface AdminApi {
  app: express.Express;
  warnings: string[];
  /** The `limit` of each read of the principals' ranking. */
  topLimits: number[];
  flags: Map<string, boolean>;
}

/** /admin over a store whose rankings are empty, in-process flags and a usage read that knows the quota `user` only. */
function adminApi(options: Partial<AdminRouterOptions> = {}): AdminApi {
  const warnings: string[] = [];
  const topLimits: number[] = [];
  const flags = new Map<string, boolean>();
  const sources: AdminSources = {
    store: {
      ranked: async (key, limit) => {
        if (key.includes(':principals:')) topLimits.push(limit);
        return [];
      },
    },
    now: () => NOW,
    features: ['chat'],
    flags: {
      set: async (name, on) => void flags.set(name, on),
      get: async (name) => flags.get(name),
      list: async () => Object.fromEntries(flags),
      close: async () => {},
    },
    meters: () => [],
    usage: async (name, id, tier) => {
      if (name === 'broken') throw new Error('store down');
      if (name !== 'user') throw Object.assign(new Error(`no quota ${name}`), { code: 'TB_INVALID_OPTION' });
      return { id, tier } as unknown as UserUsage;
    },
  };
  const config = { warn: (code: string, message: string) => void warnings.push(`${code}: ${message}`) } as BudgetConfig;
  const app = express();
  app.set('trust proxy', true);
  app.use(
    '/admin',
    createAdminRouter(config, sources, { authorize: (req) => req.get('x-admin') === 'yes', ...options } as AdminRouterOptions),
  );
  app.use(
    ((err: Error & { status?: number }, _req, res, _next) =>
      void res.status(err.status ?? 500).json({ failed: err.message })) as ErrorRequestHandler,
  );
  return { app, warnings, topLimits, flags };
}

const get = (api: AdminApi, path: string) => request(api.app).get(`/admin${path}`).set('x-admin', 'yes');
const switchFlag = (api: AdminApi, name: string, body: unknown) =>
  request(api.app)
    .post(`/admin/api/flags/${name}`)
    .set('x-admin', 'yes')
    .send(body as object);

describe('options', () => {
  test.each([
    ['no options', undefined, /adminRouter needs \{ authorize/, 'TB_INVALID_OPTION'],
    ['null for options', null, /adminRouter needs \{ authorize/, 'TB_INVALID_OPTION'],
    ['authorize that is no function', { authorize: true }, /adminRouter needs \{ authorize/, 'TB_INVALID_OPTION'],
    [
      'an empty challenge',
      { challenge: '' },
      /adminRouter.challenge must be a WWW-Authenticate value; got ""/,
      'TB_INVALID_OPTION',
    ],
    ['a challenge of two lines', { challenge: 'Basic\r\nSet-Cookie: a=b' }, /adminRouter.challenge/, 'TB_INVALID_OPTION'],
    ['a challenge with a line feed', { challenge: 'Basic\nrealm' }, /adminRouter.challenge/, 'TB_INVALID_OPTION'],
    ['a challenge with a carriage return', { challenge: 'Basic\rrealm' }, /adminRouter.challenge/, 'TB_INVALID_OPTION'],
    [
      'a challenge that is no string',
      { challenge: 401 },
      /adminRouter.challenge must be a WWW-Authenticate value; got 401/,
      'TB_INVALID_OPTION',
    ],
    ['an actor that is no function', { actor: 'ops' }, /adminRouter.actor must be a function/, 'TB_INVALID_OPTION'],
    [
      'an onFlagChange that is no function',
      { onFlagChange: 'log' },
      /adminRouter.onFlagChange must be a function/,
      'TB_INVALID_OPTION',
    ],
    [
      'a maxTopPrincipals of 0',
      { maxTopPrincipals: 0 },
      /adminRouter.maxTopPrincipals must be a positive integer; got 0/,
      'TB_INVALID_LIMIT',
    ],
  ])('%s is refused, by its stable code', (_, options, message, code) => {
    // undefined and null are passed as they are: the check itself must refuse them, not a TypeError on reading them.
    const given = options === undefined || options === null ? options : { authorize: () => true, ...options };
    expect(() => createAdminRouter({} as BudgetConfig, {} as AdminSources, given as never)).toThrow(message);
    expect(() => createAdminRouter({} as BudgetConfig, {} as AdminSources, given as never)).toThrow(
      expect.objectContaining({ code }),
    );
  });
});

describe('refusals', () => {
  test('a 403 is not cached and tells nothing', async () => {
    const res = await request(adminApi().app).get('/admin/api/spend');
    expect(res.status).toBe(403);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ error: { type: 'forbidden', message: 'You may not see this.' } });
  });

  test('with a challenge, a 401 that asks to sign in', async () => {
    const res = await request(adminApi({ challenge: 'Basic realm="ops"' }).app).get('/admin/api/spend');
    expect(res.status).toBe(401);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['www-authenticate']).toBe('Basic realm="ops"');
    expect(res.body).toEqual({ error: { type: 'unauthorized', message: 'Sign in to see this.' } });
  });

  test('an authorize that throws refuses with a warning; one that says no warns of nothing', async () => {
    const api = adminApi({
      authorize: (req) => {
        if (req.get('x-mode') === 'throw') throw new Error('auth backend down');
        return false;
      },
    });
    expect((await request(api.app).get('/admin/api/spend')).status).toBe(403);
    expect(api.warnings).toEqual([]);
    expect((await request(api.app).get('/admin/api/spend').set('x-mode', 'throw')).status).toBe(403);
    expect(api.warnings).toEqual([
      "TB_ADMIN_AUTHORIZE_FAILED: adminRouter's authorize failed, so the request was refused: Error: auth backend down.",
    ]);
  });
});

describe('top principals', () => {
  test.each([
    ['', 10],
    ['?limit=3', 3],
    ['?limit=1', 1],
    ['?limit=0', 10],
    ['?limit=-2', 10],
    ['?limit=2.5', 10],
    ['?limit=many', 10],
    ['?limit=100', 100],
    ['?limit=101', 100],
  ])('GET /api/principals/top%s reads %d', async (query, limit) => {
    const api = adminApi();
    expect((await get(api, `/api/principals/top${query}`)).body).toEqual({ day: '2026-12-05', principals: [] });
    expect(api.topLimits).toEqual([limit]);
  });

  test('maxTopPrincipals bounds the limit; the overview takes it too', async () => {
    const api = adminApi({ maxTopPrincipals: 20 });
    await get(api, '/api/principals/top?limit=50');
    await get(api, '/api/overview?limit=5');
    expect(api.topLimits).toEqual([20, 5]);
  });
});

test('the overview: spend, hourly points, top principals, flags, alerts and meters in one answer, not cached', async () => {
  const res = await get(adminApi(), '/api/overview');
  expect(res.headers['cache-control']).toBe('no-store');
  expect(Object.keys(res.body)).toEqual(['spend', 'hourly', 'top', 'flags', 'alerts', 'meters']);
  expect(res.body.spend.hour).toEqual({ window: '2026-12-05T18', totalUsd: 0, byFeature: [] });
  expect(res.body.hourly.points).toHaveLength(24);
  expect(res.body.top).toEqual({ day: '2026-12-05', principals: [] });
  expect(res.body.flags).toEqual({ flags: [{ name: 'chat', on: true, set: false }] });
  expect(res.body.alerts).toEqual({ alerts: [] });
  expect(res.body.meters).toEqual([]);
});

test.each(['/api/spend', '/api/spend/hourly', '/api/flags', '/api/alerts', '/api/meters', '/api/quotas/user/bob'])(
  'GET %s is not cached',
  async (path) => {
    const res = await get(adminApi(), path);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
  },
);

describe("a principal's usage", () => {
  test('the tier is passed when given once', async () => {
    const api = adminApi();
    expect((await get(api, '/api/quotas/user/bob?tier=pro')).body).toEqual({ id: 'bob', tier: 'pro' });
    expect((await get(api, '/api/quotas/user/bob')).body).toEqual({ id: 'bob' });
    expect((await get(api, '/api/quotas/user/bob?tier=pro&tier=free')).body).toEqual({ id: 'bob' });
  });

  test('a quota that does not exist is 404 naming it; any other failure reaches the app', async () => {
    const api = adminApi();
    const missing = await get(api, '/api/quotas/team/bob');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { type: 'not_found', message: 'No quota named "team".' } });
    const broken = await get(api, '/api/quotas/broken/bob');
    expect(broken.status).toBe(500);
    expect(broken.body).toEqual({ failed: 'store down' });
  });
});

describe('flag switches', () => {
  test('switched and audited: who (actor, else unknown), from what, when', async () => {
    const audits: FlagAudit[] = [];
    const api = adminApi({ actor: (req) => req.get('x-admin-name'), onFlagChange: (change) => void audits.push(change) });
    const off = await switchFlag(api, 'chat', { on: false }).set('x-admin-name', 'ops@example.com');
    expect(off.status).toBe(200);
    expect(off.headers['cache-control']).toBe('no-store');
    expect(off.body).toEqual({ name: 'chat', on: false });
    expect((await switchFlag(api, 'chat', { on: true })).body).toEqual({ name: 'chat', on: true, was: false });
    expect(api.flags.get('chat')).toBe(true);
    expect(audits).toEqual([
      { flag: 'chat', from: undefined, to: false, by: 'ops@example.com', at: expect.any(String) },
      { flag: 'chat', from: false, to: true, by: 'unknown', at: expect.any(String) },
    ]);
    expect(Number.isNaN(Date.parse(audits[0]!.at))).toBe(false);
  });

  test('by default the actor is the client address, and each switch one console.info line', async () => {
    const info = jest.spyOn(console, 'info').mockImplementation(() => {});
    try {
      const api = adminApi();
      await switchFlag(api, 'beta.v2', { on: false }).set('x-forwarded-for', '203.0.113.7');
      await switchFlag(api, 'beta.v2', { on: true }).set('x-forwarded-for', '203.0.113.7');
      expect(info.mock.calls.map(([line]) => String(line).replace(/ at \S+$/, ' at …'))).toEqual([
        'token-budget admin: flag beta.v2 switched off (was unset) by 203.0.113.7 at …',
        'token-budget admin: flag beta.v2 switched on (was off) by 203.0.113.7 at …',
      ]);
      await switchFlag(api, 'beta.v2', { on: false });
      expect(info.mock.calls[2]![0]).toMatch(/switched off \(was on\)/);
    } finally {
      info.mockRestore();
    }
  });

  test('an audit that throws is warned of; the switch stands', async () => {
    const api = adminApi({
      onFlagChange: () => {
        throw new Error('audit log full');
      },
    });
    expect((await switchFlag(api, 'chat', { on: false })).status).toBe(200);
    expect(api.flags.get('chat')).toBe(false);
    expect(api.warnings).toEqual(["TB_ADMIN_AUDIT_FAILED: adminRouter's onFlagChange threw: Error: audit log full."]);
  });

  test.each([
    ['a body without on', 'chat', {}, 'Send a JSON body { "on": true } or { "on": false }.'],
    ['an on that is no boolean', 'chat', { on: 'false' }, 'Send a JSON body { "on": true } or { "on": false }.'],
    ['a name with a space', 'a%20b', { on: false }, 'A flag name is 1–64 letters, digits, _, . or -.'],
    ['a name of 65 characters', 'x'.repeat(65), { on: false }, 'A flag name is 1–64 letters, digits, _, . or -.'],
  ])('%s is 400, and nothing is switched', async (_, name, body, message) => {
    const audits: FlagAudit[] = [];
    const api = adminApi({ onFlagChange: (change) => void audits.push(change) });
    const res = await switchFlag(api, name, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { type: 'invalid_request', message } });
    expect(api.flags.size).toBe(0);
    expect(audits).toEqual([]);
  });

  test('a name of 64 characters is one, and so is a name of one', async () => {
    expect((await switchFlag(adminApi({ onFlagChange: () => {} }), 'x'.repeat(64), { on: true })).status).toBe(200);
    expect((await switchFlag(adminApi({ onFlagChange: () => {} }), 'x', { on: true })).body).toEqual({ name: 'x', on: true });
  });

  test('a body over 1 kB is refused before it is read', async () => {
    const api = adminApi();
    expect((await switchFlag(api, 'chat', { on: false, note: 'x'.repeat(1100) })).status).toBe(413);
    expect(api.flags.size).toBe(0);
  });
});

describe('the page', () => {
  test('is sent with a policy of this origin only, never sniffed or cached', async () => {
    const res = await get(adminApi(), '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  test('the mount path without its slash is redirected, the query kept', async () => {
    const api = adminApi();
    expect((await get(api, '?view=day')).headers.location).toBe('/admin/?view=day');
    expect((await get(api, '')).headers.location).toBe('/admin/');
  });

  test.each([
    ['dashboard.js', 'text/javascript; charset=utf-8'],
    ['dashboard.css', 'text/css; charset=utf-8'],
    ['uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
    ['uPlot.min.css', 'text/css; charset=utf-8'],
  ])('asset %s is sent as %s', async (name, type) => {
    const res = await get(adminApi(), `/assets/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.text.length).toBeGreaterThan(0);
  });

  test.each(['index.html', 'uPlot.LICENSE', 'constructor', 'toString'])('asset %s is none', async (name) => {
    expect((await get(adminApi(), `/assets/${name}`)).status).toBe(404);
  });
});
