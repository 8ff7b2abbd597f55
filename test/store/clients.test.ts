// Every supported Redis client behind one connection: commands, reply shapes, pub/sub, error sorting, outages.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import IoRedis5 from 'ioredis';
import { TokenBudgetConfigError } from '../../lib/config-error';
import { userScopeKey } from '../../lib/store/keys';
import { redisStore } from '../../lib/store/redis';
import { type RedisClient, redisConnection, scriptRunner } from '../../lib/store/redis-transport';
import { StoreUnavailableError } from '../../lib/store/unavailable';
import {
  CLIENT_FAMILIES,
  type RedisClusterServers,
  type RedisServer,
  type TestClient,
  startCluster,
  startRedis,
} from '../helpers/redis';
import { granted, scope } from './contract';

let keyCount = 0;
/** A key of its own for each use, with a hash tag so that a cluster keeps it on one node. */
const freshKey = (name: string) => `{clients:${++keyCount}}:${name}`;

/** Resolves with the next message `subscribe` delivers on `channel`, and keeps every message in `seen`. */
function listener() {
  const seen: string[] = [];
  let waiting: ((message: string) => void) | undefined;
  return {
    seen,
    onMessage: (message: string) => {
      seen.push(message);
      waiting?.(message);
      waiting = undefined;
    },
    next: () => new Promise<string>((resolve) => (waiting = resolve)),
  };
}

describe('redisConnection', () => {
  let server: RedisServer;
  let cluster: RedisClusterServers;
  beforeAll(async () => {
    [server, cluster] = await Promise.all([startRedis(), startCluster()]);
  });
  afterAll(async () => {
    await Promise.all([server.close(), cluster.close()]);
  });

  const topologies = [
    { topology: 'one node', clustered: false, connect: (family: (typeof CLIENT_FAMILIES)[number]) => family.single(server) },
    { topology: 'a cluster', clustered: true, connect: (family: (typeof CLIENT_FAMILIES)[number]) => family.cluster(cluster) },
  ];

  describe.each(CLIENT_FAMILIES.map((family) => [family.name, family] as const))('over %s', (_name, family) => {
    describe.each(topologies.map((t) => [t.topology, t] as const))('on %s', (_topology, { clustered, connect }) => {
      let connected: TestClient;
      beforeAll(async () => {
        connected = await connect(family);
      });
      afterAll(() => connected.close());

      it('says whether it is clustered, and sends any command with integer and flat map replies', async () => {
        const connection = redisConnection(connected.client);
        expect(connection.clustered).toBe(clustered);
        const key = freshKey('hash');
        expect(await connection.send(['HSET', key, 'a', '1', 'b', '2'], key)).toBe(2);
        expect(await connection.send(['HINCRBY', key, 'a', '41'], key)).toBe(42);
        expect(await connection.send(['HGETALL', key], key)).toEqual(['a', '42', 'b', '2']);
        const missing = freshKey('missing');
        expect(await connection.send(['HGETALL', missing], missing)).toEqual([]);
        expect(await connection.send(['EVAL', 'return {1, tonumber(ARGV[1]), -3}', '1', key, '7'], key)).toEqual([1, 7, -3]);
      });

      it('leaves an error reply that is not an outage as it is', async () => {
        const connection = redisConnection(connected.client);
        const key = freshKey('string');
        await connection.send(['SET', key, 'x'], key);
        const err = await connection.send(['LPUSH', key, 'y'], key).catch((e: unknown) => e);
        expect(err).not.toBeInstanceOf(StoreUnavailableError);
        expect((err as Error).message).toMatch(/^WRONGTYPE /);
      });

      it('runs a script the server has never seen (NOSCRIPT, whatever the client’s error class), then by SHA', async () => {
        const runner = scriptRunner(connected.client);
        const key = freshKey('script');
        const source = `return {redis.call('INCRBY', KEYS[1], ARGV[1]), ${keyCount}}`;
        const script = { source, sha1: createHash('sha1').update(source).digest('hex') };
        expect(await runner.run(script, [key], ['5'])).toEqual([5, keyCount]);
        expect(await runner.run(script, [key], ['5'])).toEqual([10, keyCount]);
      });

      it('delivers the messages of its channel until unsubscribed, while the app’s connection keeps serving', async () => {
        const connection = redisConnection(connected.client);
        const channel = freshKey('channel');
        const first = listener();
        const second = listener();
        const stopFirst = await connection.subscribe(channel, first.onMessage);
        const stopSecond = await connection.subscribe(channel, second.onMessage);
        const publish = (message: string) => connection.send(['PUBLISH', channel, message]);
        const key = freshKey('while-subscribed');
        expect(await connection.send(['INCR', key], key)).toBe(1);

        // Subscribed once subscribe() resolves: no message may be missed from here on.
        const both = Promise.all([first.next(), second.next()]);
        await publish('hello');
        expect(await both).toEqual(['hello', 'hello']);
        await stopFirst();
        const afterStop = second.next();
        await publish('after');
        expect(await afterStop).toBe('after');
        await stopSecond();
        expect(first.seen).not.toContain('after');
        expect(await connection.send(['INCR', key], key)).toBe(2);
      });
    });
  });

  const withResp3 = CLIENT_FAMILIES.filter((family) => family.resp3);
  describe.each(withResp3.map((family) => [family.name, family] as const))(
    'over %s speaking RESP3 with map replies as objects',
    (_name, family) => {
      let connected: TestClient;
      beforeAll(async () => {
        connected = await family.single(server, { resp3: true });
      });
      afterAll(() => connected.close());

      it('gives the same replies, and redisStore counts as over RESP2', async () => {
        const connection = redisConnection(connected.client);
        const key = freshKey('resp3');
        await connection.send(['HSET', key, 'a', '1'], key);
        expect(await connection.send(['HGETALL', key], key)).toEqual(['a', '1']);
        const store = redisStore(connected.client, { prefix: `tb:resp3:${keyCount}:` });
        const user = scope(userScopeKey('resp3', 'day'), 1000);
        const reservation = granted(await store.reserve({ scopes: [user], input: 100, maxOutput: 50 }));
        expect(reservation.outputCap).toBe(50);
        await store.settle(reservation, 120);
        expect(await store.usage(user)).toMatchObject({ used: 120, remaining: 880 });
      });
    },
  );

  // Fails while the lease member is built in JavaScript from the unprefixed counter key while the
  // reserve script builds it from KEYS (prefixed by ioredis): settle never finds its lease.
  it('counts through an ioredis client with a keyPrefix, every key under that prefix', async () => {
    const client = new IoRedis5(server.port, '127.0.0.1', { keyPrefix: 'app:' });
    try {
      const store = redisStore(client, { prefix: 'tb:prefixed:' });
      const user = scope(userScopeKey('prefixed', 'day'), 1000);
      const reservation = granted(await store.reserve({ scopes: [user], input: 10, maxOutput: 10 }));
      await store.settle(reservation, 15);
      expect((await store.usage(user)).used).toBe(15);
      const keys = (await redisConnection(client).send(['KEYS', '*prefixed*'])) as string[];
      expect(keys.length).toBeGreaterThan(0);
      // KEYS is not prefixed by ioredis: what it lists is what Redis holds.
      for (const key of keys) expect(key.startsWith('app:tb:prefixed:')).toBe(true);
    } finally {
      client.disconnect();
    }
  });
});

describe('redisConnection when Redis is killed', () => {
  describe.each(CLIENT_FAMILIES.map((family) => [family.name, family] as const))('over %s', (_name, family) => {
    it('tells onError, answers StoreUnavailableError within the store deadline, and counts again once Redis is back', async () => {
      const server = await startRedis();
      const connected = await family.single(server);
      try {
        const removed = jest.fn();
        const connection = redisConnection(connected.client);
        connection.onError(removed)();
        const seen = new Promise<Error>((resolve) => connection.onError(resolve));
        const store = redisStore(connected.client, { timeoutMs: 300, prefix: 'tb:killed:', onError: () => {} });
        const user = scope(userScopeKey('killed', 'day'), 1000);
        granted(await store.reserve({ scopes: [user], input: 9, maxOutput: 1 }));
        await server.kill();
        await expect(store.reserve({ scopes: [user], input: 9, maxOutput: 1 })).rejects.toBeInstanceOf(StoreUnavailableError);
        // Not `toBeInstanceOf(Error)`: errors made by Node's own modules come from another realm than Jest's.
        expect((await seen).message).toEqual(expect.any(String));
        expect(removed).not.toHaveBeenCalled();
        // Back, empty: the client reconnects by itself and the store counts from zero again.
        await server.restart();
        while (
          !(await store.reserve({ scopes: [user], input: 9, maxOutput: 1 }).then(
            (r) => r.ok,
            () => false,
          ))
        ) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect((await store.usage(user)).used).toBe(10);
      } finally {
        await connected.close();
        await server.close();
      }
    });
  });
});

describe('redisConnection over a client it cannot tell from another copy', () => {
  /** An error class of another copy of a client: same name, another identity, as with two installed versions. */
  class ErrorReply extends Error {}
  class SimpleError extends ErrorReply {}
  const ioredisReply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

  /** A node-redis-like client whose every command fails with `error`. */
  const failingWith = (error: unknown) => Object.assign(new EventEmitter(), { sendCommand: async () => Promise.reject(error) });

  it.each([
    'CLUSTERDOWN The cluster is down',
    'LOADING Redis is loading the dataset in memory',
    'MASTERDOWN Link with MASTER is down',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'BUSY Redis is busy running a script',
    'READONLY You can not write against a read only replica',
    'NOREPLICAS Not enough good replicas to write',
    'MOVED 3999 127.0.0.1:6381',
    'ASK 3999 127.0.0.1:6381',
  ])('sorts the reply %j as an outage, from any error class', async (message) => {
    for (const error of [new SimpleError(message), ioredisReply(message)]) {
      const err = await redisConnection(failingWith(error))
        .send(['GET', 'k'], 'k')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).cause).toBe(error);
    }
  });

  it.each([
    'ERR user_script:1: Script attempted to access nonexistent global variable',
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    "CROSSSLOT Keys in request don't hash to the same slot",
    'NOSCRIPT No matching script. Please use EVAL.',
  ])('leaves the reply %j loud, from any error class', async (message) => {
    for (const error of [new SimpleError(message), ioredisReply(message)]) {
      await expect(redisConnection(failingWith(error)).send(['GET', 'k'], 'k')).rejects.toBe(error);
    }
  });

  it('sorts a lost connection as an outage, and a bug of ours as a bug', async () => {
    for (const message of ['Socket closed unexpectedly', 'The client is closed', 'Connection is closed.']) {
      await expect(redisConnection(failingWith(new Error(message))).send(['GET', 'k'])).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    }
    const bug = new TypeError('x is not a function');
    await expect(redisConnection(failingWith(bug)).send(['GET', 'k'])).rejects.toBe(bug);
  });

  it('recognises NOSCRIPT by its message only', async () => {
    const sent: string[] = [];
    const client = Object.assign(new EventEmitter(), {
      sendCommand: async (args: string[]) => {
        sent.push(args[0]!);
        if (args[0] === 'EVALSHA')
          throw new SimpleError(args[2] === '1' ? 'NOSCRIPT No matching script.' : 'NOSCRIPTS is not an error code');
        return [7];
      },
    });
    const runner = scriptRunner(client);
    expect(await runner.run({ source: 'return {7}', sha1: 'a'.repeat(40) }, ['k'], [])).toEqual([7]);
    expect(sent).toEqual(['EVALSHA', 'EVAL']);
    await expect(runner.run({ source: 'return {7}', sha1: 'a'.repeat(40) }, [], [])).rejects.toThrow('NOSCRIPTS');
  });

  it('attaches one error listener to the app’s client, however many stores share it', () => {
    const client = failingWith(new Error('unused'));
    for (let i = 0; i < 3; i++) redisStore(client);
    redisConnection(client).onError(() => {});
    expect(client.listenerCount('error')).toBe(1);
  });

  it('refuses what is not a supported client with a configuration error', () => {
    for (const notAClient of [{}, { on() {} }, { call: () => undefined, on() {} }, null]) {
      expect(() => redisConnection(notAClient as unknown as RedisClient)).toThrow(TokenBudgetConfigError);
      expect(() => redisStore(notAClient as unknown as RedisClient)).toThrow(/TB_INVALID_OPTION/);
    }
  });
});
