// Runs the Store contract against memoryStore, and redisStore through every supported client on one node and on a cluster; plus key and sweep tests.
import { type RedisClientType, createClient } from 'redis';
import { featureScopeKey, globalScopeKey, userScopeKey } from '../../lib/store/keys';
import { leaseKeyOf, newLeaseId, spentKeyOf } from '../../lib/store/leases';
import { memoryStore } from '../../lib/store/memory';
import { redisStore } from '../../lib/store/redis';
import type { Store } from '../../lib/store/types';
import { CLIENT_FAMILIES, type RedisServer, type TestClient, startConnectedCluster, startRedis } from '../helpers/redis';
import { type ContractBackend, granted, perMinute, scope, storeContract } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);
const DAY = 86_400_000;
const GRACE = 15 * 60_000;

describe('memoryStore', () => {
  storeContract(() => ({ createStore: (now) => memoryStore({ now }), clustered: false }));

  describe('rankings', () => {
    it('end at the very instant their lifetime does; a write then starts a new ranking', async () => {
      let nowMs = NOON;
      const store = memoryStore({ now: () => nowMs });
      const rank = (amount: number) => store.rank([{ key: 'r:{edge}', member: 'alice', amount, ttlMs: 1000 }]);
      await rank(5);
      nowMs = NOON + 999;
      expect(await store.ranked('r:{edge}', 1)).toEqual([{ member: 'alice', score: 5 }]);
      nowMs = NOON + 1000;
      expect(await store.ranked('r:{edge}', 1)).toEqual([]);
      await rank(7);
      expect(await store.ranked('r:{edge}', 1)).toEqual([{ member: 'alice', score: 7 }]);
      nowMs = NOON + 1999;
      expect(await store.ranked('r:{edge}', 1)).toEqual([{ member: 'alice', score: 7 }]);
      await store.close();
    });
  });

  describe('settled spend', () => {
    it('outlives its window counter by keepSpentMs, for the spend history', async () => {
      let nowMs = NOON;
      const store = memoryStore({ now: () => nowMs });
      const tracked = { ...scope(userScopeKey('history', 'day'), 1000), tracksSpend: true, keepSpentMs: DAY };
      await store.settle(granted(await store.reserve({ scopes: [tracked], input: 10, maxOutput: 10 })), 15);
      const counterGoneAt = NOON + DAY / 2 + GRACE;
      nowMs = counterGoneAt + DAY - 1;
      expect(await store.spentAt(tracked, [NOON])).toEqual([15]);
      nowMs = counterGoneAt + DAY;
      expect(await store.spentAt(tracked, [NOON])).toEqual([0]);
      await store.close();
    });
  });

  describe('expired windows', () => {
    it('are removed by sweep(), groups of expiry at a time, and not before they expire', async () => {
      let nowMs = NOON;
      const store = memoryStore({ now: () => nowMs });
      for (let i = 0; i < 1000; i++)
        granted(await store.reserve({ scopes: [scope(userScopeKey(`user${i}`, 'day'), 100)], input: 9, maxOutput: 1 }));
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
      const reservation = granted(
        await store.reserve({ scopes: [scope(userScopeKey('late', 'day'), 100)], input: 9, maxOutput: 1 }),
      );
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
      for (let i = 0; i < 25_000; i++)
        granted(await store.reserve({ scopes: [scope(userScopeKey(`user${i}`, 'day'), 100)], input: 9, maxOutput: 1 }));
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

/**
 * Every supported client, on one node and on a cluster. The servers are shared; keys are
 * read behind the store's back through node-redis 6 clients of their own, one per node,
 * so that a client under test never checks its own work.
 */
describe('redisStore', () => {
  let server: RedisServer;
  let cluster: Awaited<ReturnType<typeof startConnectedCluster>>;
  let reference: RedisClientType;
  let nodeReferences: RedisClientType[];
  beforeAll(async () => {
    [server, cluster] = await Promise.all([startRedis(), startConnectedCluster()]);
    reference = createClient({ url: server.url });
    nodeReferences = cluster.servers.nodes.map((node) => createClient({ url: node.url }));
    await Promise.all([reference, ...nodeReferences].map((client) => client.connect()));
  });
  afterAll(async () => {
    for (const client of [reference, ...nodeReferences]) client.destroy();
    await Promise.all([cluster.close(), server.close()]);
  });

  /** After SCRIPT FLUSH on every node: each reserve is one EVALSHA, and the first one's NOSCRIPT one EVAL. */
  const expectScriptLoadedOnce = async (store: Store, nodes: RedisClientType[]) => {
    const request = { scopes: [scope(userScopeKey('sha', 'day'), 1000)], input: 9, maxOutput: 1 };
    granted(await store.reserve(request));
    for (const node of nodes) await node.sendCommand(['SCRIPT', 'FLUSH']);
    for (const node of nodes) await node.sendCommand(['CONFIG', 'RESETSTAT']);
    granted(await store.reserve(request));
    granted(await store.reserve(request));
    const calls = { evalsha: 0, eval: 0 };
    for (const node of nodes) {
      const stats = String(await node.sendCommand(['INFO', 'commandstats']));
      for (const command of ['evalsha', 'eval'] as const)
        calls[command] += Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    }
    expect(calls).toEqual({ evalsha: 2, eval: 1 });
  };

  describe.each(CLIENT_FAMILIES.map((family) => [family.name, family] as const))('through %s', (_name, family) => {
    describe('on one node', () => {
      let connected: TestClient;
      beforeAll(async () => {
        connected = await family.single(server);
      });
      afterAll(() => connected.close());

      storeContract(() => ({
        createStore: (now) => redisStore(connected.client, { now, prefix: freshPrefix() }),
        clustered: false,
        inspect: inspectWith((_key, args) => reference.sendCommand(args)),
      }));

      it('runs the reserve as one EVALSHA, and loads the script with EVAL once after a SCRIPT FLUSH', async () => {
        await expectScriptLoadedOnce(redisStore(connected.client, { now: () => NOON, prefix: freshPrefix() }), [reference]);
      });
    });

    describe('on a cluster', () => {
      let connected: TestClient;
      beforeAll(async () => {
        connected = await family.cluster(cluster.servers);
      });
      afterAll(() => connected.close());

      storeContract(() => ({
        createStore: (now) => redisStore(connected.client, { now, prefix: freshPrefix() }),
        clustered: true,
        inspect: inspectWith((key, args) => cluster.client.sendCommand(key, false, args)),
      }));

      it('runs the reserve as one EVALSHA, and loads the script with EVAL once per node after a SCRIPT FLUSH', async () => {
        await expectScriptLoadedOnce(redisStore(connected.client, { now: () => NOON, prefix: freshPrefix() }), nodeReferences);
      });
    });
  });
});

describe('scope keys', () => {
  it('are readable for short safe names and carry their hash tag in braces', () => {
    expect(featureScopeKey('chat')).toBe('f:{chat}');
    expect(userScopeKey('alice', 'day')).toBe('u:{u=alice}:day');
    expect(userScopeKey('a.b-c_d@example.com', 'day')).toBe('u:{u=a.b-c_d@example.com}:day');
    expect(globalScopeKey('tpm')).toBe('g:{tpm}');
    for (const id of ['x', 'Bob42', 'ZZ-9.z_@', 'x'.repeat(64)]) expect(userScopeKey(id, 'day')).toBe(`u:{u=${id}}:day`);
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
    const lookalikes = [
      hashed,
      userScopeKey(hashPart, 'day'),
      userScopeKey(`h=${hashPart}`, 'day'),
      userScopeKey('\uD800', 'day'),
      userScopeKey('\uD801', 'day'),
    ];
    expect(new Set(lookalikes).size).toBe(lookalikes.length);
    expect(new Set([featureScopeKey('x'), userScopeKey('x', 'x'), globalScopeKey('x')]).size).toBe(3);
  });
});

describe('lease and spent keys', () => {
  it('sit beside their scope or window counter, in its hash tag, under the store prefix', () => {
    expect(leaseKeyOf('u:{u=alice}:day')).toBe('u:{u=alice}:day:leases');
    expect(leaseKeyOf('g:{tpm}', 'tb:')).toBe('tb:g:{tpm}:leases');
    expect(spentKeyOf('tb:f:{chat}:2026-11-28')).toBe('tb:f:{chat}:2026-11-28:spent');
  });

  it('are named by 96 random bits, never twice', () => {
    const ids = Array.from({ length: 100 }, newLeaseId);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
