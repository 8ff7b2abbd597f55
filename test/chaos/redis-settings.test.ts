// The README's Redis client settings: an idle client keeps its connection, a stalled server's socket is freed, both clients.
import IoRedis from 'ioredis';
import { createClient } from 'redis';
import { redisStore } from '../../lib';
import { userScopeKey } from '../../lib/store/keys';
import type { Store } from '../../lib/store/types';
import { startRedis, type RedisServer } from '../helpers/redis';

/** The README's advice, as an app would paste it (Quick start and "Several processes with Redis"). */
const SOCKET_TIMEOUT_MS = 5_000;
const PING_INTERVAL_MS = 1_000;

interface Connected {
  store: Store;
  /** Errors and reconnections the client reported, with when they came (ms since the test began). */
  events: { kind: 'error' | 'reconnecting'; atMs: number }[];
  close(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function nodeRedis(server: RedisServer, startedAt: number): Promise<Connected> {
  const client = createClient({
    url: server.url,
    pingInterval: PING_INTERVAL_MS,
    socket: { socketTimeout: SOCKET_TIMEOUT_MS, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000) },
  });
  const events: Connected['events'] = [];
  client.on('error', () => events.push({ kind: 'error', atMs: performance.now() - startedAt }));
  client.on('reconnecting', () => events.push({ kind: 'reconnecting', atMs: performance.now() - startedAt }));
  await client.connect();
  return { store: redisStore(client, { onError: () => {} }), events, close: () => client.destroy() };
}

async function ioRedis(server: RedisServer, startedAt: number): Promise<Connected> {
  const client = new IoRedis(server.url, { socketTimeout: SOCKET_TIMEOUT_MS, lazyConnect: true });
  const events: Connected['events'] = [];
  client.on('error', () => events.push({ kind: 'error', atMs: performance.now() - startedAt }));
  client.on('reconnecting', () => events.push({ kind: 'reconnecting', atMs: performance.now() - startedAt }));
  await client.connect();
  return { store: redisStore(client, { onError: () => {} }), events, close: () => client.disconnect() };
}

const user = {
  kind: 'user' as const,
  name: 'user',
  key: userScopeKey('settings', 'day'),
  limit: 1_000,
  onUnavailable: 'fail-closed' as const,
  window: { kind: 'fixed' as const, periodAt: () => ({ id: 'd', startMs: 0, endMs: Date.now() + 86_400_000 }) },
};
const reserveOnce = (store: Store) => store.reserve({ scopes: [user], input: 1, maxOutput: 1 });

describe.each([
  { family: 'node-redis (pingInterval 1 s, socketTimeout 5 s)', connect: nodeRedis },
  { family: 'ioredis (socketTimeout 5 s)', connect: ioRedis },
])('$family', ({ connect }) => {
  let server: RedisServer;
  beforeAll(async () => void (server = await startRedis()));
  afterAll(async () => server?.close());

  test('an idle client keeps its connection past the socket time-out: no error, no reconnection', async () => {
    const startedAt = performance.now();
    const connected = await connect(server, startedAt);
    try {
      await sleep(SOCKET_TIMEOUT_MS + 2_000);
      expect(connected.events).toEqual([]);
      expect((await reserveOnce(connected.store)).ok).toBe(true);
    } finally {
      connected.close();
    }
  }, 30_000);

  test('a stalled server: the socket is freed within the socket time-out (and a ping), and the client is back after SIGCONT', async () => {
    const startedAt = performance.now();
    const connected = await connect(server, startedAt);
    try {
      server.stop();
      const stoppedAtMs = performance.now() - startedAt;
      // A request during the stall: refused by the store's own deadline, long before the socket is freed.
      await expect(reserveOnce(connected.store)).rejects.toThrow();
      await sleep(SOCKET_TIMEOUT_MS + PING_INTERVAL_MS + 2_000);
      const freed = connected.events.find((e) => e.kind === 'error' || e.kind === 'reconnecting');
      expect(freed).toBeDefined();
      expect(freed!.atMs - stoppedAtMs).toBeLessThan(SOCKET_TIMEOUT_MS + PING_INTERVAL_MS + 2_000);
      server.cont();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = (await reserveOnce(connected.store).catch(() => ({ ok: false }))).ok;
        if (!ok) await sleep(100);
      }
      expect(ok).toBe(true);
    } finally {
      server.cont();
      connected.close();
    }
  }, 40_000);
});
