// Flags on a real redis-server: announcements between processes' caches, re-reads, prefixes, outages, no round trip per check.
import express from 'express';
import IoRedis from 'ioredis';
import { createClient, createCluster } from 'redis';
import request from 'supertest';
import { createTokenBudget, redisStore, StoreUnavailableError } from '../../lib';
import { createFlagCache, type FlagCache } from '../../lib/flags/cache';
import { redisFlagChannel } from '../../lib/store/redis-flags';
import { redisConnection, type RedisClient } from '../../lib/store/redis-transport';
import { startConnectedCluster, startRedis, type RedisServer } from '../helpers/redis';
import { until } from '../helpers/until';

let server: RedisServer;
const opened: { quit(): unknown }[] = [];
const caches: FlagCache[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.close();
});
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
  await Promise.all(opened.splice(0).map((client) => Promise.resolve(client.quit()).catch(() => {})));
});

/** A node-redis client that retries quickly, as an app's would. */
async function nodeRedis() {
  const client = createClient({ url: server.url, socket: { reconnectStrategy: () => 50, connectTimeout: 500 } });
  client.on('error', () => {});
  await client.connect();
  opened.push({ quit: () => client.close() });
  return client;
}

async function ioRedis() {
  const client = new IoRedis(server.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await client.connect();
  opened.push(client);
  return client;
}

function cacheOn(client: RedisClient, options: { refreshMs?: number; prefix?: string; onError?: (err: Error) => void } = {}) {
  const cache = createFlagCache({
    channel: redisFlagChannel(redisConnection(client), options.prefix ?? 'tb:'),
    refreshMs: options.refreshMs ?? 60_000,
    timeoutMs: 300,
    onError: options.onError ?? (() => {}),
  });
  caches.push(cache);
  return cache;
}

describe.each([
  ['node-redis', nodeRedis],
  ['ioredis', ioRedis],
])('with %s', (_name, connect) => {
  it('announces a flip to every other process at once, and stores it for processes started later', async () => {
    const [a, b] = [cacheOn(await connect()), cacheOn(await connect())];
    await Promise.all([a.whenLoaded(), b.whenLoaded()]);
    const started = performance.now();
    await a.set('chat', false);
    expect(a.peek('chat')).toBe(false);
    await until(() => b.peek('chat') === false);
    // The re-read is a minute away: only the announcement can have brought it.
    expect(performance.now() - started).toBeLessThan(1000);

    const later = cacheOn(await connect());
    expect(await later.get('chat')).toBe(false);
    expect(await later.list()).toEqual({ chat: false });
  });
});

it('keeps flags in one hash under the store prefix, announced on the channel of the same name', async () => {
  const client = await nodeRedis();
  const [app1, app2] = [cacheOn(client, { prefix: 'app1:' }), cacheOn(client, { prefix: 'app2:' })];
  await Promise.all([app1.whenLoaded(), app2.whenLoaded()]);
  const announced: string[] = [];
  const stop = await redisConnection(client).subscribe('app1:flags', (message) => announced.push(message));
  await app1.set('chat', false);
  await until(() => announced.length === 1);
  await stop();
  expect(JSON.parse(announced[0]!)).toEqual({ name: 'chat', on: false });
  expect(await client.sendCommand(['HGETALL', 'app1:flags'])).toEqual({ chat: '0' });
  expect(await client.exists('app2:flags')).toBe(0);
  expect(app2.peek('chat')).toBeUndefined();
});

it('catches a change whose announcement was lost on the next re-read', async () => {
  const client = await nodeRedis();
  const cache = cacheOn(client, { refreshMs: 100 });
  await cache.whenLoaded();
  // Written without PUBLISH: as if the message had been lost on the way.
  await client.hSet('tb:flags', 'chat', '0');
  const waited = await until(() => cache.peek('chat') === false);
  expect(waited).toBeLessThan(1000);
  await client.hSet('tb:flags', 'chat', '1');
  await until(() => cache.peek('chat') === true);
});

it('ignores what it cannot read: a malformed announcement, a value other than 0 or 1', async () => {
  const client = await nodeRedis();
  await client.hSet('tb:flags', { chat: '0', odd: 'yes' });
  const cache = cacheOn(client);
  expect(await cache.list()).toEqual({ chat: false });
  await client.publish('tb:flags', 'not json');
  await client.publish('tb:flags', JSON.stringify({ name: 'chat', on: 'true' }));
  await cache.set('search', true);
  await until(() => cache.peek('search') === true);
  expect(await cache.list()).toEqual({ chat: false, search: true });
});

describe('an app on Redis', () => {
  /** A Redis store that offers its flag channel, as redisStore will. */
  const flagStore = (client: RedisClient) => ({
    ...redisStore(client, { onError: () => {} }),
    flagChannel: () => redisFlagChannel(redisConnection(client), 'tb:'),
  });

  async function flagApp() {
    const client = await nodeRedis();
    const budget = createTokenBudget({
      store: flagStore(client),
      features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } },
      onStoreError: () => {},
    });
    const app = express();
    app.get('/chat', budget.featureFlag('chat'), (_req, res) => void res.json({ served: true }));
    caches.push({ close: () => budget.flags.close() } as FlagCache);
    return { app, budget };
  }

  const commandsProcessed = async (client: Awaited<ReturnType<typeof nodeRedis>>) =>
    Number(/total_commands_processed:(\d+)/.exec(await client.info('stats'))![1]);

  it('checks the flag without a Redis round trip', async () => {
    const { app, budget } = await flagApp();
    await budget.flags.set('chat', false);
    expect((await request(app).get('/chat')).status).toBe(503);
    const observer = await nodeRedis();
    const before = await commandsProcessed(observer);
    const statuses = await Promise.all(Array.from({ length: 300 }, async () => (await request(app).get('/chat')).status));
    const after = await commandsProcessed(observer);
    expect(statuses.every((status) => status === 503)).toBe(true);
    // INFO itself, and at most a re-read or two: not one command per request.
    expect(after - before).toBeLessThan(5);
  });

  it('refuses a flagged route in a process started during a stall unless onUnknown fails open, within one deadline', async () => {
    const writer = cacheOn(await nodeRedis());
    await writer.set('chat', false);
    const client = await nodeRedis();
    server.stop();
    try {
      const budget = createTokenBudget({
        store: flagStore(client),
        features: { chat: { maxInput: 10, maxOutput: 10, model: 'gpt-4o' } },
        onStoreError: () => {},
      });
      caches.push({ close: () => budget.flags.close() } as FlagCache);
      const app = express();
      const served = (_req: express.Request, res: express.Response) => void res.json({ served: true });
      app.get('/default', budget.featureFlag('chat'), served);
      app.get('/closed', budget.featureFlag('chat', { onUnknown: 'fail-closed' }), served);
      app.get('/open', budget.featureFlag('chat', { onUnknown: 'fail-open' }), served);
      const started = performance.now();
      const first = await request(app).get('/default');
      // One store deadline (1000 ms), not the subscription's and then the read's one after the other.
      expect(performance.now() - started).toBeLessThan(1800);
      expect(first.status).toBe(503);
      expect(first.body.error.type).toBe('budget_unavailable');
      expect(first.headers['retry-after']).toBe('1');
      expect((await request(app).get('/closed')).body.error.type).toBe('budget_unavailable');
      // Fail-open serves with the flag's default: the feature switched off in Redis gets through.
      expect((await request(app).get('/open')).status).toBe(200);
    } finally {
      server.cont();
    }
  });

  it('keeps the last values while Redis is down, refuses to flip blind, and follows Redis again once it is back', async () => {
    const { app, budget } = await flagApp();
    await budget.flags.set('chat', false);
    await server.kill();
    try {
      expect((await request(app).get('/chat')).status).toBe(503);
      await expect(budget.flags.set('chat', true)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(await budget.flags.get('chat')).toBe(false);
      expect((await request(app).get('/chat')).status).toBe(503);
    } finally {
      await server.restart();
    }
    // A restarted Redis without persistence has no flags: another process switches chat off again, and it is heard.
    const observer = await nodeRedis();
    const other = cacheOn(await nodeRedis());
    await other.whenLoaded();
    // Both caches listen again: the app's subscriber has reconnected and resubscribed by itself.
    await until(async () => Number(((await observer.sendCommand(['PUBSUB', 'NUMSUB', 'tb:flags'])) as unknown[])[1]) >= 2);
    await other.set('chat', false);
    await until(async () => (await request(app).get('/chat')).status === 503 && (await budget.flags.get('chat')) === false);
    // Resubscribed after the reconnect: the next flip is announced, not left to the re-read 5 s away.
    await other.set('chat', true);
    expect(await until(async () => (await request(app).get('/chat')).status === 200)).toBeLessThan(1000);
  });
});

it('keeps the last values while Redis is stalled, and reports the outage once', async () => {
  const errors: Error[] = [];
  const cache = cacheOn(await nodeRedis(), { refreshMs: 50, onError: (err) => errors.push(err) });
  await cache.set('chat', false);
  server.stop();
  try {
    await until(() => errors.length > 0);
    // Several re-reads time out meanwhile; the value stands and the outage is told once.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
    expect(cache.peek('chat')).toBe(false);
  } finally {
    server.cont();
  }
  await until(async () => {
    await cache.set('chat', true).catch(() => {});
    return cache.peek('chat') === true;
  });
});

it('never applies a write it rejected: the script run after a stall longer than the deadline does nothing', async () => {
  const [writer, reader] = [cacheOn(await nodeRedis()), cacheOn(await nodeRedis())];
  await writer.set('chat', false);
  await until(() => reader.peek('chat') === false);
  server.stop();
  try {
    await expect(writer.set('chat', true)).rejects.toBeInstanceOf(StoreUnavailableError);
    // Stalled past the caller's deadline (300 ms): the write is still queued in Redis.
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    server.cont();
  }
  // The queued script has run once the connection answers again; a later process reads what Redis holds.
  await until(
    async () =>
      await writer.set('other', true).then(
        () => true,
        () => false,
      ),
  );
  const later = cacheOn(await nodeRedis());
  expect(await later.get('chat')).toBe(false);
  expect(reader.peek('chat')).toBe(false);
});

describe('on a 3-master Redis Cluster', () => {
  let cluster: Awaited<ReturnType<typeof startConnectedCluster>>;
  beforeAll(async () => {
    cluster = await startConnectedCluster(3);
  }, 60_000);
  afterAll(() => cluster?.close());

  it('announces a flip to a process connected to the cluster through another client', async () => {
    const other = createCluster({ rootNodes: cluster.servers.rootNodes });
    other.on('error', () => {});
    await other.connect();
    opened.push({ quit: () => other.destroy() });
    const [a, b] = [cacheOn(cluster.client), cacheOn(other)];
    await Promise.all([a.whenLoaded(), b.whenLoaded()]);
    await a.set('chat', false);
    expect(await until(() => b.peek('chat') === false)).toBeLessThan(1000);
    await b.set('chat', true);
    await until(() => a.peek('chat') === true);
    expect(await b.list()).toEqual({ chat: true });
  });
});
