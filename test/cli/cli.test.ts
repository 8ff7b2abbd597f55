// The token-budget command, run as a child process against a private redis-server: flags, usage, spend, help, mistakes, outages.
import { execFile } from 'node:child_process';
import request from 'supertest';
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import { formatUsd } from '../../lib/alerts/money';
import { findClient } from '../../lib/cli/redis-client';
import { runCli } from '../../lib/cli/run';
import { spawnApp } from '../helpers/child-app';
import { unusedPort } from '../helpers/ports';
import { startTestApp, type TestApp } from '../helpers/app';
import { startRedis, type RedisServer } from '../helpers/redis';
import { billedNanos } from '../costMeter/money';

const MAIN = require.resolve('../../lib/cli/main.ts');
const FLAG_WORKER = require.resolve('../fixtures/flag-worker.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `token-budget ...args` as an operator would, without REDIS_URL unless given. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { REDIS_URL: _ignored, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...inherited, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let redis: RedisServer;
let client: ReturnType<typeof createClient>;
beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  client.on('error', () => {});
  await client.connect();
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await redis?.close();
});

describe('--help and mistakes', () => {
  it.each([[[]], [['flags']], [['usage']], [['spend']], [['flags', 'set']]])(
    'token-budget %j --help prints its usage and exits 0',
    async (args) => {
      const run = await cli([...args, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: token-budget /);
      expect(run.stdout).toContain('--redis URL');
    },
  );

  it.each([
    [['bogus'], /Unknown command "bogus"/],
    [[], /A command is missing/],
    [['flags'], /flags needs list, get or set/],
    [['flags', 'set', 'chat', 'maybe'], /flags set chat needs on or off; got "maybe"/],
    [['flags', 'get', 'a:b'], /The flag name must be 1–64 characters/],
    [['flags', 'list', '--bogus'], /Unknown option '--bogus'/],
    [['usage', 'user'], /usage user needs the user's id/],
    [['usage', 'user', 'alice', '--tier', 'pro'], /--tier needs --limits/],
    [['usage', 'user', 'alice', '--limits', 'free=10,pro=x'], /--limits pro must be a positive whole number/],
    [['spend', '--time-zone', 'Mars/Olympus'], /--time-zone must be an IANA time zone/],
    [['flags', 'list', '--timeout', 'soon', '--redis', 'redis://127.0.0.1:1'], /--timeout must be a positive whole number/],
    [['flags', 'list'], /No Redis given: pass --redis redis:\/\/host:port or set REDIS_URL/],
    [['flags', 'list', '--redis', 'nonsense'], /--redis must be a URL/],
  ])('%j exits 2 with a clear message', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/--help for usage/);
    expect(run.stdout).toBe('');
  });
});

describe('an unreachable Redis', () => {
  it('nothing listening: exits 1 at once, the password not printed', async () => {
    const port = await unusedPort();
    const run = await cli(['flags', 'list', '--redis', `redis://:hunter2@127.0.0.1:${port}`, '--timeout', '1000']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^token-budget: Cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? within 1000 ms/);
    expect(run.stderr).not.toContain('hunter2');
  });

  it.each(['redis', 'ioredis'])('a stalled server (%s): exits 1 after the deadline instead of waiting forever', async (name) => {
    const stalled = await startRedis();
    stalled.stop();
    try {
      const run = await cli(['flags', 'list', '--redis', stalled.url, '--timeout', '500', '--client', name]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^token-budget: (Cannot reach Redis at .* within 500 ms|Redis did not answer within 500 ms\.)/);
    } finally {
      stalled.cont();
      await stalled.close();
    }
  });

  it('no Redis client installed: says which to install, exit 1', async () => {
    const missing = (name: string) => {
      throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
    };
    expect(() => findClient(undefined, missing)).toThrow(
      'a Redis client is needed to talk to Redis: install "redis" or "ioredis" (e.g. npm install redis).',
    );
    const errors: string[] = [];
    const code = await runCli(['flags', 'list', '--redis', redis.url], {
      out: () => {},
      err: (text) => errors.push(text),
      env: {},
      load: missing,
    });
    expect(code).toBe(1);
    expect(errors).toEqual([
      'token-budget: a Redis client is needed to talk to Redis: install "redis" or "ioredis" (e.g. npm install redis).',
    ]);
  });
});

describe('flags', () => {
  it('set switches a feature off in a running app process; list and get read it back (node-redis and ioredis)', async () => {
    const app = await spawnApp(FLAG_WORKER, { REDIS_URL: redis.url, PREFIX: 'flags:' });
    try {
      const status = async () => (await fetch(`http://127.0.0.1:${app.port}/chat`)).status;
      expect(await status()).toBe(200);
      const off = await cli(['flags', 'set', 'chat', 'off', '--prefix', 'flags:'], { REDIS_URL: redis.url });
      expect(off).toMatchObject({ code: 0, stdout: 'chat: off (announced to every process sharing this Redis)\n' });
      const deadline = Date.now() + 5000;
      while ((await status()) !== 503 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await status()).toBe(503);
      await cli(['flags', 'set', 'summarize', 'on', '--prefix', 'flags:', '--redis', redis.url, '--client', 'ioredis']);
      const list = await cli(['flags', 'list', '--prefix', 'flags:', '--redis', redis.url, '--client', 'ioredis']);
      expect(list).toMatchObject({ code: 0, stdout: 'chat       off\nsummarize  on\n' });
      const json = await cli(['flags', 'list', '--json', '--prefix', 'flags:', '--redis', redis.url, '--client', 'redis']);
      expect(JSON.parse(json.stdout)).toEqual({ chat: false, summarize: true });
      expect((await cli(['flags', 'get', 'chat', '--prefix', 'flags:', '--redis', redis.url])).stdout).toBe('chat: off\n');
      expect((await cli(['flags', 'get', 'other', '--prefix', 'flags:', '--redis', redis.url])).stdout).toBe(
        'other: not set (featureFlag uses its default)\n',
      );
      // Another prefix is another app's flags.
      expect((await cli(['flags', 'list', '--redis', redis.url])).stdout).toBe(
        'No flag has been set: every featureFlag uses its default.\n',
      );
    } finally {
      app.child.kill();
    }
  }, 60_000);
});

describe('usage and spend', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      users: true,
      budget: {
        store: redisStore(client, { prefix: 'app:' }),
        features: { chat: { maxInput: 200, maxOutput: 50, model: 'gpt-4o' } },
      },
      chain: (b, llm) => [
        b.featureBudget('chat'),
        b.userQuota({
          user: (req) => (req as unknown as { user?: { id: string } }).user?.id,
          tier: (req) => (req as unknown as { user?: { plan: string } }).user?.plan,
          limits: { free: 1000, pro: 5000 },
        }),
        b.costMeter({ per: 'feature' }),
        b.costMeter({ name: 'total' }),
        b.llmHandler({ client: llm }),
      ],
    });
    for (let i = 0; i < 3; i++) {
      const res = await request(t.app)
        .post('/chat')
        .set('x-test-user', 'alice')
        .set('x-test-plan', 'pro')
        .send({ messages: [{ role: 'user', content: `hello ${i}` }] });
      expect(res.status).toBe(200);
    }
  });
  afterAll(() => t?.close());

  it("usage user: what the user used this period, and with the app's limits what is left", async () => {
    const used = t.upstream.billedTokens();
    const run = await cli([
      'usage',
      'user',
      'alice',
      '--limits',
      'free=1000,pro=5000',
      '--tier',
      'pro',
      '--json',
      '--prefix',
      'app:',
      '--redis',
      redis.url,
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      quota: 'user',
      id: 'alice',
      period: new Date().toISOString().slice(0, 10),
      used,
      limit: 5000,
      remaining: 5000 - used,
      tier: 'pro',
      resetAt: new Date(
        Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1),
      ).toISOString(),
    });
    const text = await cli(['usage', 'user', 'alice', '--prefix', 'app:'], { REDIS_URL: redis.url });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`used        ${used.toLocaleString('en-US')} tokens`);
    expect(text.stdout).toContain('limit       not known here');
    const stranger = await cli(['usage', 'user', 'bob', '--limit', '1000', '--json', '--prefix', 'app:', '--redis', redis.url]);
    expect(JSON.parse(stranger.stdout)).toMatchObject({ used: 0, limit: 1000, remaining: 1000 });
  });

  it('spend: this hour and today, per meter and per feature', async () => {
    const billed = formatUsd(billedNanos(t.upstream.calls));
    const total = JSON.parse(
      (await cli(['spend', '--meter', 'total', '--json', '--prefix', 'app:', '--redis', redis.url])).stdout,
    );
    expect(total).toMatchObject({ meter: 'total', timeZone: 'UTC' });
    expect(
      total.windows.map((w: { window: string; spentUsd: string; inFlightUsd: string }) => [w.window, w.spentUsd, w.inFlightUsd]),
    ).toEqual([
      ['hour', billed, '0.000000000'],
      ['day', billed, '0.000000000'],
    ]);
    const chat = JSON.parse(
      (await cli(['spend', '--feature', 'chat', '--json', '--prefix', 'app:', '--redis', redis.url])).stdout,
    );
    expect(chat.windows[0].spentUsd).toBe(billed);
    const other = await cli(['spend', '--feature', 'summarize', '--prefix', 'app:', '--redis', redis.url]);
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(
      /^feature summarize, meter spend \(UTC\)\n {2}this hour .* \$0\.000000000 spent, \$0\.000000000 held by calls in flight\n {2}today /,
    );
  });
});
