// Runs the Store contract against memoryStore, redisStore on one node and on a cluster; plus key and sweep tests.
import { createClient } from 'redis';
import { featureScopeKey, globalScopeKey, userScopeKey } from '../../lib/store/keys';
import { memoryStore } from '../../lib/store/memory';
import { redisStore } from '../../lib/store/redis';
import { type RedisServer, startConnectedCluster, startRedis } from '../helpers/redis';
import { type ContractBackend, granted, perMinute, scope, storeContract, utcDay } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);
const DAY = 86_400_000;
const GRACE = 15 * 60_000;

describe('memoryStore', () => {
  storeContract(() => ({ createStore: (now) => memoryStore({ now }), clustered: false }));

  describe('expired windows', () => {
    it('are removed by sweep(), groups of expiry at a time, and not before they expire', async () => {
      let nowMs = NOON;
      const store = memoryStore({ now: () => nowMs });
      for (let i = 0; i < 1000; i++) granted(await store.reserve({ scopes: [scope(userScopeKey(`user${i}`, 'day'), 100)], input: 9, maxOutput: 1 }));
      granted(await store.reserve({ scopes: [scope(globalScopeKey('tpm'), 1000, perMinute, 'global')], input: 9, maxOutput: 1 }));
      expect(store.size).toBe(1001);
      // The minute bucket expires a window and two buckets after it started.
      nowMs = NOON + 61_999;
      expect(store.sweep()).toBe(0);
      nowMs = NOON + 62_000;
      expect(store.sweep()).toBe(1);
      nowMs = NOON + DAY / 2 + GRACE - 1;
      expect(store.sweep()).toBe(0);
      nowMs = NOON + DAY / 2 + GRACE;
      expect(store.sweep()).toBe(1000);
      expect(store.size).toBe(0);
      await store.close();
    });

    it('are not brought back by a late settle', async () => {
      let nowMs = NOON;
      const store = memoryStore({ now: () => nowMs });
      const reservation = granted(await store.reserve({ scopes: [scope(userScopeKey('late', 'day'), 100)], input: 9, maxOutput: 1 }));
      nowMs = NOON + DAY / 2 + GRACE;
      await store.settle(reservation, 50);
      expect(store.sweep()).toBe(1);
      await store.settle(reservation, 50);
      expect(store.size).toBe(0);
      await store.close();
    });

    it('are swept by the timer, which follows the injected clock and stops on close', async () => {
      let nowMs = NOON;
      const store = memoryStore({ now: () => nowMs, sweepIntervalMs: 5 });
      for (let i = 0; i < 25_000; i++) granted(await store.reserve({ scopes: [scope(userScopeKey(`user${i}`, 'day'), 100)], input: 9, maxOutput: 1 }));
      nowMs = NOON + DAY;
      while (store.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      granted(await store.reserve({ scopes: [scope(userScopeKey('after', 'day'), 100)], input: 9, maxOutput: 1 }));
      await store.close();
      expect(store.size).toBe(0);
    });
  });
});

/** Reads Redis keys behind the store's back (PTTL, EXISTS, DEL), on a client or a cluster. */
function inspectWith(send: (key: string, args: string[]) => Promise<unknown>): ContractBackend['inspect'] {
  return {
    pttl: async (key) => Number(await send(key, ['PTTL', key])),
    exists: async (key) => Number(await send(key, ['EXISTS', key])) === 1,
    del: async (key) => {
      await send(key, ['DEL', key]);
    },
  };
}

let storeCount = 0;
/** Each store gets its own prefix, so that tests share no counter. */
const freshPrefix = () => `tb:t${++storeCount}:`;

describe('redisStore on one node', () => {
  let server: RedisServer;
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    server = await startRedis();
    client = createClient({ url: server.url });
    await client.connect();
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  storeContract(() => ({
    createStore: (now) => redisStore(client, { now, prefix: freshPrefix() }),
    clustered: false,
    inspect: inspectWith((_key, args) => client.sendCommand(args)),
  }));

  it('runs the reserve as one EVALSHA, and loads the script with EVAL once after a SCRIPT FLUSH', async () => {
    const store = redisStore(client, { now: () => NOON, prefix: freshPrefix() });
    const request = { scopes: [scope(userScopeKey('sha', 'day'), 1000), scope(featureScopeKey('chat'), 1000, utcDay, 'feature')], input: 9, maxOutput: 1 };
    granted(await store.reserve(request));
    await client.sendCommand(['SCRIPT', 'FLUSH']);
    await client.sendCommand(['CONFIG', 'RESETSTAT']);
    granted(await store.reserve(request));
    granted(await store.reserve(request));
    const stats = String(await client.sendCommand(['INFO', 'commandstats']));
    const calls = (command: string) => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect({ evalsha: calls('evalsha'), eval: calls('eval') }).toEqual({ evalsha: 2, eval: 1 });
  });
});

describe('redisStore on a cluster', () => {
  let env: Awaited<ReturnType<typeof startConnectedCluster>>;
  beforeAll(async () => {
    env = await startConnectedCluster();
  });
  afterAll(() => env.close());

  storeContract(() => ({
    createStore: (now) => redisStore(env.client, { now, prefix: freshPrefix() }),
    clustered: true,
    inspect: inspectWith((key, args) => env.client.sendCommand(key, false, args)),
  }));
});

describe('scope keys', () => {
  it('are readable for short safe names and carry their hash tag in braces', () => {
    expect(featureScopeKey('chat')).toBe('f:{chat}');
    expect(userScopeKey('alice', 'day')).toBe('u:{u=alice}:day');
    expect(userScopeKey('a.b-c_d@example.com', 'day')).toBe('u:{u=a.b-c_d@example.com}:day');
    expect(globalScopeKey('tpm')).toBe('g:{tpm}');
  });

  it('hash anything else into one hash tag of 43 safe characters', () => {
    for (const id of ['a:b', '{x}', 'a\nb', 'é', 'x'.repeat(65), 'x'.repeat(10_000), '']) {
      expect(userScopeKey(id, 'day')).toMatch(/^u:\{h=[A-Za-z0-9_-]{43}\}:day$/);
    }
    expect(featureScopeKey('a}b')).toMatch(/^f:\{h=[A-Za-z0-9_-]{43}\}$/);
    expect(globalScopeKey('{tpm}')).toMatch(/^g:\{h=[A-Za-z0-9_-]{43}\}$/);
    expect(userScopeKey('alice', 'a:{b}')).toMatch(/^u:\{u=alice\}:h=[A-Za-z0-9_-]{43}$/);
  });

  it('never let a readable id equal a hashed one, nor lone surrogates share a key', () => {
    const hashed = userScopeKey('a:b', 'day');
    const hashPart = /h=([^}]+)/.exec(hashed)![1]!;
    const lookalikes = [hashed, userScopeKey(hashPart, 'day'), userScopeKey(`h=${hashPart}`, 'day'), userScopeKey('\uD800', 'day'), userScopeKey('\uD801', 'day')];
    expect(new Set(lookalikes).size).toBe(lookalikes.length);
    expect(new Set([featureScopeKey('x'), userScopeKey('x', 'x'), globalScopeKey('x')]).size).toBe(3);
  });
});
