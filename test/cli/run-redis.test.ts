// The token-budget command in this process against a private redis-server: flags, usage and spend as an operator reads them.
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import { NO_CAP, spendScope } from '../../lib/alerts/spend-scopes';
import { defaultLoad } from '../../lib/cli/redis-client';
import { runCli } from '../../lib/cli/run';
import { quotaScopeKey } from '../../lib/store/keys';
import { periodAt } from '../../lib/store/periods';
import type { ScopeRequest } from '../../lib/store/types';
import { startRedis, type RedisServer } from '../helpers/redis';

interface Run {
  code: number;
  out: string[];
  err: string[];
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

/** Runs `token-budget ...args --redis <the test's server>` in this process, with the installed client packages. */
async function cli(args: string[], load = defaultLoad): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--redis', redis.url], {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: {},
    load,
  });
  return { code, out, err };
}

const today = () => new Date().toISOString().slice(0, 10);
const tomorrow = () => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
};

describe('flags', () => {
  it('set announces the switch; get and list read it back, in text and JSON, with either client', async () => {
    const prefix = ['--prefix', 'flags1:'];
    expect(await cli(['flags', 'list', ...prefix])).toEqual({
      code: 0,
      out: ['No flag has been set: every featureFlag uses its default.'],
      err: [],
    });
    expect(await cli(['flags', 'list', '--json', ...prefix])).toMatchObject({ code: 0, out: ['{}'] });
    // Set in an order that is neither the listed one nor its reverse.
    const off = await cli(['flags', 'set', 'chat', 'off', '--json', ...prefix]);
    expect(off).toMatchObject({ code: 0, err: [] });
    expect(JSON.parse(off.out[0]!)).toEqual({ name: 'chat', on: false });
    expect(await cli(['flags', 'set', 'summarize', 'on', ...prefix, '--client', 'ioredis'])).toEqual({
      code: 0,
      out: ['summarize: on (announced to every process sharing this Redis)'],
      err: [],
    });
    await cli(['flags', 'set', 'a.b', 'on', ...prefix]);
    expect(await cli(['flags', 'list', ...prefix])).toEqual({
      code: 0,
      out: ['a.b        on\nchat       off\nsummarize  on'],
      err: [],
    });
    const json = await cli(['flags', 'list', '--json', ...prefix, '--client', 'ioredis']);
    expect(json.out).toEqual([JSON.stringify({ 'a.b': true, chat: false, summarize: true }, null, 2)]);
    expect((await cli(['flags', 'get', 'chat', ...prefix])).out).toEqual(['chat: off']);
    expect((await cli(['flags', 'get', 'summarize', ...prefix])).out).toEqual(['summarize: on']);
    expect(await cli(['flags', 'get', 'other', ...prefix])).toEqual({
      code: 0,
      out: ['other: not set (featureFlag uses its default)'],
      err: [],
    });
    expect(JSON.parse((await cli(['flags', 'get', 'other', '--json', ...prefix])).out[0]!)).toEqual({ name: 'other', on: null });
    expect(JSON.parse((await cli(['flags', 'get', 'chat', '--json', ...prefix])).out[0]!)).toEqual({ name: 'chat', on: false });
    // Without --prefix the CLI uses the app's default, tb:, another app's flags here.
    expect((await cli(['flags', 'list'])).out).toEqual(['No flag has been set: every featureFlag uses its default.']);
    await cli(['flags', 'set', 'default-prefixed', 'off']);
    expect((await cli(['flags', 'list', '--prefix', 'tb:'])).out).toEqual(['default-prefixed  off']);
    await cli(['flags', 'set', 'chat', 'on', ...prefix]);
    expect((await cli(['flags', 'get', 'chat', ...prefix])).out).toEqual(['chat: on']);
  });

  it('leaves no connection open once it has answered', async () => {
    const connections = async () => (await client.sendCommand(['CLIENT', 'LIST'])).toString().trim().split('\n').length;
    const before = await connections();
    for (const name of ['redis', 'ioredis']) {
      expect((await cli(['flags', 'get', 'chat', '--prefix', 'flags2:', '--client', name])).code).toBe(0);
      const giveUpAt = Date.now() + 2000;
      while ((await connections()) > before && Date.now() < giveUpAt) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await connections()).toBe(before);
    }
  });

  it('a Redis that stops answering once connected: exit 1 naming the deadline', async () => {
    const stalled = await startRedis();
    try {
      // The client connects, then the server freezes, as a server does under a long blocking command.
      const load = (name: 'redis' | 'ioredis') => {
        const real = defaultLoad(name) as { createClient(options: object): { connect(): Promise<unknown> } };
        return {
          createClient: (options: object) => {
            const made = real.createClient(options);
            const connect = made.connect.bind(made);
            made.connect = async () => {
              const connected = await connect();
              stalled.stop();
              return connected;
            };
            return made;
          },
        };
      };
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(['flags', 'list', '--redis', stalled.url, '--timeout', '300', '--client', 'redis'], {
        out: (text) => out.push(text),
        err: (text) => err.push(text),
        env: {},
        load,
      });
      expect({ code, out, err }).toEqual({ code: 1, out: [], err: ['token-budget: Redis did not answer within 300 ms.'] });
    } finally {
      stalled.cont();
      await stalled.close();
    }
  });
});

describe('usage', () => {
  /** Counts `tokens` in the quota's current period, as the app's quota does. */
  async function used(prefix: string, quota: string, id: string, period: 'hour' | 'day', timeZone: string, tokens: number) {
    const scope: ScopeRequest = {
      kind: quota === 'user' ? 'user' : 'quota',
      name: quota,
      key: quotaScopeKey(quota, id, timeZone === 'UTC' ? period : `${period}@${timeZone}`),
      limit: 1_000_000,
      onUnavailable: 'fail-closed',
      window: { kind: 'fixed', periodAt: (nowMs) => periodAt(nowMs, period, timeZone) },
    };
    const reserved = await redisStore(client, { prefix }).reserve({ scopes: [scope], input: tokens, maxOutput: 0 });
    expect(reserved.ok).toBe(true);
  }

  it("usage user: what the user used today, and with the app's limits what is left", async () => {
    await used('usage1:', 'user', 'alice', 'day', 'UTC', 1234);
    const prefix = ['--prefix', 'usage1:'];
    expect(await cli(['usage', 'user', 'alice', ...prefix])).toEqual({
      code: 0,
      out: [
        [
          `user alice, day ${today()} (UTC)`,
          '  used        1,234 tokens',
          '  limit       not known here: pass --limit N or --limits tier=N,… as the app configures it',
          `  resets at   ${tomorrow()}`,
        ].join('\n'),
      ],
      err: [],
    });
    // No --tier: the tier with the smallest limit, as the app does.
    expect((await cli(['usage', 'user', 'alice', '--limits', 'pro=5000,free=2000,team=3000', ...prefix])).out).toEqual([
      [
        `user alice, day ${today()} (UTC)`,
        '  used        1,234 tokens',
        '  limit       2,000 tokens (tier free)',
        '  remaining   766 tokens',
        `  resets at   ${tomorrow()}`,
      ].join('\n'),
    ]);
    const json = await cli(['usage', 'user', 'alice', '--limits', 'free=1000,pro=5000', '--tier', 'pro', '--json', ...prefix]);
    expect(JSON.parse(json.out[0]!)).toEqual({
      quota: 'user',
      id: 'alice',
      period: today(),
      used: 1234,
      limit: 5000,
      remaining: 3766,
      tier: 'pro',
      resetAt: tomorrow(),
    });
    const over = await cli(['usage', 'user', 'alice', '--limit', '1000', '--json', ...prefix]);
    expect(JSON.parse(over.out[0]!)).toEqual({
      quota: 'user',
      id: 'alice',
      period: today(),
      used: 1234,
      limit: 1000,
      remaining: 0,
      resetAt: tomorrow(),
    });
    const unknown = await cli(['usage', 'user', 'bob', '--json', ...prefix]);
    expect(JSON.parse(unknown.out[0]!)).toEqual({ quota: 'user', id: 'bob', period: today(), used: 0, resetAt: tomorrow() });
  });

  it('usage quota: another quota, its period and time zone', async () => {
    await used('usage2:', 'team', 'acme', 'hour', 'Asia/Kolkata', 70);
    const prefix = ['--prefix', 'usage2:'];
    const zone = ['--period', 'hour', '--time-zone', 'Asia/Kolkata'];
    const hour = periodAt(Date.now(), 'hour', 'Asia/Kolkata');
    const run = await cli(['usage', 'quota', 'team', 'acme', '--limit', '100', ...zone, ...prefix]);
    expect(run).toEqual({
      code: 0,
      out: [
        [
          `quota team: acme, hour ${hour.id} (Asia/Kolkata)`,
          '  used        70 tokens',
          '  limit       100 tokens',
          '  remaining   30 tokens',
          `  resets at   ${new Date(hour.endMs).toISOString()}`,
        ].join('\n'),
      ],
      err: [],
    });
    // Another period or zone is another counter.
    expect((await cli(['usage', 'quota', 'team', 'acme', '--period', 'hour', ...prefix])).out[0]).toContain(
      '  used        0 tokens',
    );
    expect((await cli(['usage', 'quota', 'team', 'acme', '--time-zone', 'Asia/Kolkata', ...prefix])).out[0]).toContain(
      '  used        0 tokens',
    );
  });
});

describe('spend', () => {
  /** What a costMeter would count: `settledNanos` spent and `heldNanos` still reserved by a call in flight, this hour and today. */
  async function spent(prefix: string, feature: string | undefined, settledNanos: number, heldNanos: number) {
    const store = redisStore(client, { prefix });
    const scopes = (['hour', 'day'] as const).map((window) =>
      spendScope({
        meter: 'spend',
        feature,
        window,
        timeZone: 'UTC',
        limit: NO_CAP,
        weights: { input: 1, cachedInput: 1, output: 1 },
        onUnavailable: 'fail-closed',
      }),
    );
    const settled = await store.reserve({ scopes, input: settledNanos, maxOutput: 0 });
    if (!settled.ok) throw new Error('refused');
    await store.settle(settled.reservation, { input: settledNanos, cachedInput: 0, output: 0 });
    const held = await store.reserve({ scopes, input: heldNanos, maxOutput: 0 });
    expect(held.ok).toBe(true);
  }

  it('this hour and today: the settled spend and what calls in flight hold, for all features or one', async () => {
    await spent('spend1:', undefined, 2_500_000, 40_000);
    await spent('spend1:', 'chat', 7_000, 0);
    const prefix = ['--prefix', 'spend1:'];
    const nowMs = Date.now();
    const hour = periodAt(nowMs, 'hour', 'UTC');
    const day = periodAt(nowMs, 'day', 'UTC');
    const all = await cli(['spend', ...prefix]);
    expect(all).toEqual({
      code: 0,
      out: [
        [
          'all features, meter spend (UTC)',
          `  this hour  ${hour.id.padEnd(19)}  $0.002500000 spent, $0.000040000 held by calls in flight`,
          `  today      ${day.id.padEnd(19)}  $0.002500000 spent, $0.000040000 held by calls in flight`,
        ].join('\n'),
      ],
      err: [],
    });
    expect((await cli(['spend', '--feature', 'chat', ...prefix])).out).toEqual([
      [
        'feature chat, meter spend (UTC)',
        `  this hour  ${hour.id.padEnd(19)}  $0.000007000 spent, $0.000000000 held by calls in flight`,
        `  today      ${day.id.padEnd(19)}  $0.000007000 spent, $0.000000000 held by calls in flight`,
      ].join('\n'),
    ]);
    const chat = await cli(['spend', '--feature', 'chat', '--json', ...prefix]);
    expect(JSON.parse(chat.out[0]!)).toEqual({
      meter: 'spend',
      feature: 'chat',
      timeZone: 'UTC',
      windows: [
        {
          window: 'hour',
          period: hour.id,
          spentUsd: '0.000007000',
          inFlightUsd: '0.000000000',
          resetAt: new Date(hour.endMs).toISOString(),
        },
        {
          window: 'day',
          period: day.id,
          spentUsd: '0.000007000',
          inFlightUsd: '0.000000000',
          resetAt: new Date(day.endMs).toISOString(),
        },
      ],
    });
    const other = await cli(['spend', '--meter', 'total', '--time-zone', 'Europe/Paris', ...prefix]);
    expect(other.out[0]).toMatch(
      /^all features, meter total \(Europe\/Paris\)\n {2}this hour {2}\S+ +\$0\.000000000 spent, \$0\.000000000 held by calls in flight\n {2}today {6}\S+ +\$0\.000000000 spent/,
    );
  });
});
