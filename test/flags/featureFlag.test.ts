// featureFlag over HTTP with the memory store: 503 feature_disabled, defaults, per-process flags, error options, bad configuration.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import request from 'supertest';
import { createTokenBudget, memoryStore, StoreUnavailableError, type TokenBudget } from '../../lib';
import type { FlagChannel } from '../../lib/store/types';
import type { FeatureFlagOptions, TokenBudgetOptions } from '../../lib';
import { EXPRESS } from '../helpers/app';

const features = { chat: { maxInput: 100, maxOutput: 10, model: 'gpt-4o' } };

function flagApp(options: Partial<TokenBudgetOptions> = {}, flag: FeatureFlagOptions = {}, express = EXPRESS['Express 5']) {
  const budget = createTokenBudget({ features, onWarning: () => {}, ...options });
  const app = express();
  const ok: RequestHandler = (_req, res) => {
    res.json({ served: true });
  };
  app.get('/chat', budget.featureFlag('chat', flag), ok);
  app.get('/beta', budget.featureFlag('beta', { default: false }), ok);
  const handler: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(418).json({ caught: (err as { type?: string }).type, status: (err as { status?: number }).status });
  };
  app.use(handler);
  return { app, budget };
}

describe.each(Object.entries(EXPRESS))('%s', (_name, express) => {
  it('serves a feature whose flag was never set, and refuses it with 503 feature_disabled once switched off', async () => {
    const { app, budget } = flagApp({}, {}, express);
    expect((await request(app).get('/chat')).body).toEqual({ served: true });
    await budget.flags.set('chat', false);
    const res = await request(app).get('/chat');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: { type: 'feature_disabled', message: 'This feature is switched off.' } });
    expect(res.headers['retry-after']).toBeUndefined();
    await budget.flags.set('chat', true);
    expect((await request(app).get('/chat')).status).toBe(200);
  });
});

it('uses the configured default while the flag was never set', async () => {
  const { app, budget } = flagApp();
  expect((await request(app).get('/beta')).status).toBe(503);
  await budget.flags.set('beta', true);
  expect((await request(app).get('/beta')).status).toBe(200);
  // Another route's flag is another flag.
  await budget.flags.set('chat', false);
  expect((await request(app).get('/beta')).status).toBe(200);
});

it('reports flags through get and list: undefined until set', async () => {
  const { budget } = flagApp();
  expect(await budget.flags.get('chat')).toBeUndefined();
  expect(await budget.flags.list()).toEqual({});
  await budget.flags.set('chat', false);
  await budget.flags.set('beta', true);
  expect(await budget.flags.get('chat')).toBe(false);
  expect(await budget.flags.list()).toEqual({ beta: true, chat: false });
});

it('keeps flags per process with the memory store: another budget is not switched off', async () => {
  const one = flagApp({ store: memoryStore() });
  const two = flagApp({ store: memoryStore() });
  await one.budget.flags.set('chat', false);
  expect((await request(one.app).get('/chat')).status).toBe(503);
  expect((await request(two.app).get('/chat')).status).toBe(200);
  expect(await two.budget.flags.get('chat')).toBeUndefined();
});

it('decides 1,000 concurrent requests by the flag, exactly', async () => {
  const { app, budget } = flagApp();
  await budget.flags.set('chat', false);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  try {
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, async () => (await fetch(`http://127.0.0.1:${port}/chat`)).status),
    );
    expect(statuses.filter((status) => status === 503)).toHaveLength(1000);
  } finally {
    server.close();
  }
});

it("passes the refusal to the app's error handler with errors: 'next'", async () => {
  const { app, budget } = flagApp({ errors: 'next' });
  await budget.flags.set('chat', false);
  const res = await request(app).get('/chat');
  expect(res.status).toBe(418);
  expect(res.body).toEqual({ caught: 'feature_disabled', status: 503 });
});

it('answers through onReject, the middleware’s own over the budget’s', async () => {
  const seen: string[] = [];
  const { app, budget } = flagApp(
    { onReject: (_err, _req, res) => void res.status(599).end() },
    { onReject: (err, _req, res) => void (seen.push(err.type), res.status(503).send('off')) },
  );
  await budget.flags.set('chat', false);
  const res = await request(app).get('/chat');
  expect([res.status, res.text, seen]).toEqual([503, 'off', ['feature_disabled']]);
});

describe('while the flags are unknown: no read of them has succeeded since start-up', () => {
  /** A store whose flags `channel` holds: its reads, writes and announcements. */
  const storeWith = (channel: FlagChannel) => ({ ...memoryStore(), flagChannel: () => channel });
  const down = () => Promise.reject(new StoreUnavailableError('down for the test'));
  const unreachable: FlagChannel = { readAll: down, write: down, listen: down };
  let budget: TokenBudget | undefined;
  afterEach(() => budget?.flags.close());

  /** GET /chat and /beta (default off) on a budget over `channel`; `flag` gives /chat's options. */
  const unknownApp = (options: Partial<TokenBudgetOptions>, flag: FeatureFlagOptions = {}, channel = unreachable) => {
    const made = flagApp({ store: storeWith(channel), ...options }, flag);
    budget = made.budget;
    return made.app;
  };

  it("refuses with 503 budget_unavailable and Retry-After: 1 under the budget's default policy", async () => {
    const res = await request(unknownApp({})).get('/chat');
    expect([res.status, res.headers['retry-after'], res.body.error.type]).toEqual([503, '1', 'budget_unavailable']);
    expect(res.body.error.message).toBe('This feature cannot be checked right now; retry shortly.');
  });

  it("serves as the flag's default with onUnknown 'fail-open', the flag's own or the budget's", async () => {
    const app = unknownApp({ onStoreUnavailable: 'fail-open' });
    expect((await request(app).get('/chat')).status).toBe(200);
    const beta = await request(app).get('/beta');
    expect([beta.status, beta.body.error.type]).toEqual([503, 'feature_disabled']);
    const own = unknownApp({}, { onUnknown: 'fail-open' });
    expect((await request(own).get('/chat')).status).toBe(200);
  });

  it("refuses with onUnknown 'fail-closed' under a fail-open budget", async () => {
    const res = await request(unknownApp({ onStoreUnavailable: 'fail-open' }, { onUnknown: 'fail-closed' })).get('/chat');
    expect([res.status, res.body.error.type]).toEqual([503, 'budget_unavailable']);
  });

  it('a request that comes while the first read is on its way waits for it, and follows what it read', async () => {
    const stored = new Map([['chat', false]]);
    const slow: FlagChannel = {
      readAll: () => new Promise((resolve) => setImmediate(() => resolve(stored))),
      write: () => Promise.resolve(),
      listen: () => Promise.resolve(async () => {}),
    };
    const res = await request(unknownApp({}, {}, slow)).get('/chat');
    expect([res.status, res.body.error.type]).toEqual([503, 'feature_disabled']);
  });
});

describe('configuration mistakes', () => {
  let budget: TokenBudget;
  beforeEach(() => {
    budget = createTokenBudget({ features });
  });

  it.each([
    ['', 'empty'],
    ['chat:admin', 'a colon'],
    ['x'.repeat(65), 'too long'],
  ])('refuses the flag name %j (%s)', (name) => {
    expect(() => budget.featureFlag(name)).toThrow(expect.objectContaining({ code: 'TB_INVALID_OPTION' }));
  });

  it('names the flag and the rule it broke', () => {
    expect(() => budget.featureFlag('chat:admin')).toThrow(
      `featureFlag("chat:admin"): the flag name must be 1–64 characters of letters, digits, '_', '.' or '-'; got "chat:admin". [TB_INVALID_OPTION]`,
    );
  });

  it('names onUnknown when its policy is not one', () => {
    expect(() => budget.featureFlag('chat', { onUnknown: 'retry' as never })).toThrow(
      'featureFlag("chat").onUnknown must be one of fail-closed, fail-open, fallback; got "retry". [TB_INVALID_OPTION]',
    );
  });

  it('refuses a default that is not a boolean', () => {
    expect(() => budget.featureFlag('chat', { default: 'off' as unknown as boolean })).toThrow(
      'featureFlag("chat").default must be true or false; got "off". [TB_INVALID_OPTION]',
    );
  });

  it('refuses to set a flag to anything but true or false', async () => {
    await expect(budget.flags.set('chat', 'false' as unknown as boolean)).rejects.toMatchObject({ code: 'TB_INVALID_OPTION' });
    expect(await budget.flags.list()).toEqual({});
  });
});
