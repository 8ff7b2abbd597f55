// redisConnection over fake node-redis and ioredis clients (errors it calls an outage, late messages, failed subscriptions), and Redis Cluster's hash tags.
import { EventEmitter } from 'node:events';
import { TokenBudgetConfigError } from '../../lib/config-error';
import { type RedisClient, hashTagOf, redisConnection } from '../../lib/store/redis-transport';
import { StoreUnavailableError } from '../../lib/store/unavailable';

type MessageListener = (message: string, channel: string) => void;

/**
 * A node-redis-like client whose `duplicate()` makes the subscriber connection below. `destroy` is node-redis 5/6's
 * way to close it; without it (node-redis 4) `disconnect` is. `failAt` makes that step reject as a refused connection.
 */
function nodeRedisLike(options: { destroy?: boolean; failAt?: 'connect' | 'subscribe'; failClose?: boolean } = {}) {
  const closed: string[] = [];
  const subscriber = Object.assign(new EventEmitter(), {
    listener: undefined as MessageListener | undefined,
    sendCommand: async () => 'OK',
    connect: async () => {
      if (options.failAt === 'connect') throw new Error('connect ECONNREFUSED 127.0.0.1:6390');
    },
    subscribe: async (_channel: string, listener: MessageListener) => {
      if (options.failAt === 'subscribe') throw new Error('Socket closed unexpectedly');
      subscriber.listener = listener;
    },
    unsubscribe: async () => {},
    ...(options.destroy === false ? {} : { destroy: () => void closed.push('destroy') }),
    disconnect: async () => {
      closed.push('disconnect');
      if (options.failClose) throw new Error('The client is closed');
    },
  });
  const client = Object.assign(new EventEmitter(), { sendCommand: async () => 'OK', duplicate: () => subscriber });
  return { client, subscriber, closed };
}

/** An ioredis-like client (`call`, `isCluster`) whose `duplicate()` makes the subscriber connection below. */
function ioRedisLike(options: { failSubscribe?: boolean } = {}) {
  let disconnects = 0;
  const subscriber = Object.assign(new EventEmitter(), {
    subscribe: async () => {
      if (options.failSubscribe) throw new Error('Connection is closed.');
      return 1;
    },
    disconnect: () => void disconnects++,
  });
  const client = Object.assign(new EventEmitter(), { isCluster: false, call: async () => 'OK', duplicate: () => subscriber });
  return { client, subscriber, disconnects: () => disconnects };
}

describe('redisConnection.send over a fake client: what is an outage', () => {
  /** node-redis's error class for a server's reply, as another installed copy would have it. */
  class ErrorReply extends Error {}
  const failingWith = (error: unknown) => Object.assign(new EventEmitter(), { sendCommand: async () => Promise.reject(error) });

  it.each([
    // SCRIPT KILL with no script running, RESTORE over an existing key: an outage's word inside another reply.
    'NOTBUSY No scripts in execution right now.',
    'BUSYKEY Target key name already exists.',
  ])('leaves the reply %j loud', async (message) => {
    const error = new ErrorReply(message);
    await expect(redisConnection(failingWith(error)).send(['GET', 'k'], 'k')).rejects.toBe(error);
  });

  it('leaves a RangeError loud: a bug, not an outage', async () => {
    const bug = new RangeError('Invalid array length');
    await expect(redisConnection(failingWith(bug)).send(['GET', 'k'])).rejects.toBe(bug);
  });

  it('says what the client said in the unavailable error, of an Error or of anything else it rejects with', async () => {
    await expect(redisConnection(failingWith(new Error('Socket closed unexpectedly'))).send(['GET', 'k'])).rejects.toThrow(
      'Redis could not answer: Socket closed unexpectedly [TB_STORE_UNAVAILABLE]',
    );
    await expect(redisConnection(failingWith('Connection lost')).send(['GET', 'k'])).rejects.toThrow(
      'Redis could not answer: Connection lost [TB_STORE_UNAVAILABLE]',
    );
    for (const nothing of [null, undefined]) {
      await expect(redisConnection(failingWith(nothing)).send(['GET', 'k'])).rejects.toThrow(
        `Redis could not answer: ${String(nothing)} [TB_STORE_UNAVAILABLE]`,
      );
    }
  });

  it('reads the message of a rejection whose prototypes have no constructor', async () => {
    const bare = Object.assign(Object.create(Object.create(null) as object) as object, { message: 'Connection reset' });
    await expect(redisConnection(failingWith(bare)).send(['GET', 'k'])).rejects.toThrow(
      'Redis could not answer: Connection reset [TB_STORE_UNAVAILABLE]',
    );
  });

  it('reports a rejection that cannot be made a string as an outage, not a TypeError of its own', async () => {
    await expect(redisConnection(failingWith(Object.create(null))).send(['GET', 'k'])).rejects.toThrow(
      'Redis could not answer: [object Object] [TB_STORE_UNAVAILABLE]',
    );
  });

  it('passes on a StoreUnavailableError as it is, not wrapped in another', async () => {
    const unavailable = new StoreUnavailableError('Redis is being failed over');
    await expect(redisConnection(failingWith(unavailable)).send(['GET', 'k'])).rejects.toBe(unavailable);
  });
});

describe('redisConnection over fake clients: which client, and reply shapes', () => {
  const replying = (reply: unknown) => Object.assign(new EventEmitter(), { sendCommand: async () => reply });

  it('flattens a map reply, a Map or a plain object, and leaves other replies as they are', async () => {
    const fields = Object.assign(Object.create(null) as object, { a: '1', b: '2' });
    expect(await redisConnection(replying(new Map([['a', '1']]))).send(['HGETALL', 'h'])).toEqual(['a', '1']);
    expect(await redisConnection(replying(fields)).send(['HGETALL', 'h'])).toEqual(['a', '1', 'b', '2']);
    expect(await redisConnection(replying({ a: '1' })).send(['HGETALL', 'h'])).toEqual(['a', '1']);
    expect(await redisConnection(replying(null)).send(['GET', 'k'])).toBeNull();
    expect(await redisConnection(replying(['x'])).send(['LRANGE', 'l', '0', '-1'])).toEqual(['x']);
    // A reply of a class of the client's (node-redis's VerbatimString is a String object) is not a map.
    const verbatim = new String('txt:text');
    expect(await redisConnection(replying(verbatim)).send(['LOLWUT'])).toBe(verbatim);
  });

  it('sends a node-redis cluster’s commands by their first key, as writes (never to a replica)', async () => {
    const sent: unknown[][] = [];
    const cluster = Object.assign(new EventEmitter(), {
      masters: [],
      sendCommand: async (...args: unknown[]) => void sent.push(args),
    });
    const connection = redisConnection(cluster);
    expect(connection.clustered).toBe(true);
    await connection.send(['INCRBY', 'tb:{u}:day', '5'], 'tb:{u}:day');
    expect(sent).toEqual([['tb:{u}:day', false, ['INCRBY', 'tb:{u}:day', '5']]]);
    expect(redisConnection(replying('OK')).clustered).toBe(false);
  });

  it('unsubscribes a node-redis cluster’s listener from its channel when stopped', async () => {
    const calls: [string, string, unknown][] = [];
    const cluster = Object.assign(new EventEmitter(), {
      masters: [],
      sendCommand: async () => 'OK',
      subscribe: async (channel: string, listener: unknown) => void calls.push(['subscribe', channel, listener]),
      unsubscribe: async (channel: string, listener: unknown) => void calls.push(['unsubscribe', channel, listener]),
    });
    const stop = await redisConnection(cluster).subscribe('tb:flags:changed', () => {});
    await stop();
    expect(calls.map(([call, channel]) => [call, channel])).toEqual([
      ['subscribe', 'tb:flags:changed'],
      ['unsubscribe', 'tb:flags:changed'],
    ]);
    expect(calls[1]![2]).toBe(calls[0]![2]);
  });

  it('refuses an object with ioredis’s isCluster but no call(), or node-redis’s masters but no sendCommand()', () => {
    for (const notAClient of [
      { isCluster: false, on() {} },
      { masters: [], on() {} },
    ] as unknown as RedisClient[]) {
      expect(() => redisConnection(notAClient)).toThrow(TokenBudgetConfigError);
      expect(() => redisConnection(notAClient)).toThrow(/node-redis client or cluster .* or an ioredis client or cluster/);
    }
  });
});

describe('redisConnection.subscribe over a fake node-redis client', () => {
  it('drops a message the client delivers after the subscription was stopped, and closes its connection', async () => {
    const { client, subscriber, closed } = nodeRedisLike();
    const seen: string[] = [];
    const stop = await redisConnection(client).subscribe('tb:flags:changed', (message) => seen.push(message));
    subscriber.listener!('on', 'tb:flags:changed');
    await stop();
    // node-redis may still hand over what it had read from the socket before the unsubscribe.
    subscriber.listener!('late', 'tb:flags:changed');
    expect(seen).toEqual(['on']);
    expect(closed).toEqual(['destroy']);
  });

  it('closes a node-redis 4 subscriber, which has no destroy(), with disconnect()', async () => {
    const { client, closed } = nodeRedisLike({ destroy: false });
    const stop = await redisConnection(client).subscribe('tb:flags:changed', () => {});
    await stop();
    expect(closed).toEqual(['disconnect']);
  });

  it('tells onError of the errors of the connection it opened', async () => {
    const { client, subscriber } = nodeRedisLike();
    const connection = redisConnection(client);
    const errors: Error[] = [];
    connection.onError((err) => errors.push(err));
    await connection.subscribe('tb:flags:changed', () => {});
    // An EventEmitter without an 'error' listener would throw this at the app instead.
    const lost = new Error('read ECONNRESET');
    subscriber.emit('error', lost);
    expect(errors).toEqual([lost]);
  });

  it.each(['connect', 'subscribe'] as const)(
    'when the subscriber fails to %s: rejects as unavailable and closes the connection it opened',
    async (failAt) => {
      for (const destroy of [true, false]) {
        const { client, closed } = nodeRedisLike({ failAt, destroy });
        const err = await redisConnection(client)
          .subscribe('tb:flags:changed', () => {})
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect((err as Error).message).toMatch(/^Redis could not answer: (connect ECONNREFUSED|Socket closed unexpectedly)/);
        expect(closed).toEqual([destroy ? 'destroy' : 'disconnect']);
      }
    },
  );

  it('reports the failed subscription, not the failure of closing what it opened', async () => {
    const { client, closed } = nodeRedisLike({ failAt: 'connect', destroy: false, failClose: true });
    const err = await redisConnection(client)
      .subscribe('tb:flags:changed', () => {})
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/connect ECONNREFUSED/);
    expect(closed).toEqual(['disconnect']);
  });
});

describe('redisConnection.subscribe over a fake ioredis client', () => {
  it('passes on the messages of its own channel only, and disconnects its subscriber when stopped', async () => {
    const { client, subscriber, disconnects } = ioRedisLike();
    const seen: string[] = [];
    const stop = await redisConnection(client).subscribe('tb:flags:changed', (message) => seen.push(message));
    subscriber.emit('message', 'other:channel', 'not ours');
    subscriber.emit('message', 'tb:flags:changed', 'ours');
    expect(seen).toEqual(['ours']);
    expect(disconnects()).toBe(0);
    await stop();
    subscriber.emit('message', 'tb:flags:changed', 'late');
    expect(seen).toEqual(['ours']);
    expect(disconnects()).toBe(1);
  });

  it('rejects as unavailable when SUBSCRIBE fails, and disconnects the subscriber it made', async () => {
    const { client, subscriber, disconnects } = ioRedisLike({ failSubscribe: true });
    const errors: Error[] = [];
    const connection = redisConnection(client);
    connection.onError((err) => errors.push(err));
    await expect(connection.subscribe('tb:flags:changed', () => {})).rejects.toThrow(
      /^Redis could not answer: Connection is closed\./,
    );
    expect(disconnects()).toBe(1);
    const lost = new Error('connect ECONNREFUSED');
    subscriber.emit('error', lost);
    expect(errors).toEqual([lost]);
  });
});

describe('hashTagOf', () => {
  // Redis Cluster's rule: the first `{` and the first `}` after it, if something is between them; else the whole key.
  it.each([
    ['tb:{u=ann}:day', 'u=ann'],
    ['{u=ann}', 'u=ann'],
    ['tb:{a}:{b}', 'a'],
    ['tb:{}:{b}', 'tb:{}:{b}'],
    ['tb:{a', 'tb:{a'],
    ['tb:}a{b}', 'b'],
    ['tb:}{a}', 'a'],
    ['tb:}a', 'tb:}a'],
    ['tb:{{a}}', '{a'],
    ['no tag', 'no tag'],
    ['', ''],
  ])('hashes %j by %j', (key, tag) => {
    expect(hashTagOf(key)).toBe(tag);
  });
});
