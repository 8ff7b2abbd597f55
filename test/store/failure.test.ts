// Redis killed or stalled: deadlines, the deadline inside the script, rollback, and resilientStore's policies and recovery.
import { createClient } from 'redis';
import { globalScopeKey, userScopeKey } from '../../lib/store/keys';
import { memoryStore } from '../../lib/store/memory';
import { redisStore } from '../../lib/store/redis';
import { resilientStore } from '../../lib/store/resilient';
import type { ReserveRequest, ScopeRequest, Store, UnavailablePolicy } from '../../lib/store/types';
import { StoreUnavailableError } from '../../lib/store/unavailable';
import { type RedisServer, startConnectedCluster, startRedis } from '../helpers/redis';
import { granted, perMinute, scope } from './contract';

const TIMEOUT_MS = 300;
let storeCount = 0;
const freshPrefix = () => `tb:f${++storeCount}:`;

function withPolicy(s: ScopeRequest, onUnavailable: UnavailablePolicy): ScopeRequest {
  return { ...s, onUnavailable };
}

const tenTokens = (...scopes: ScopeRequest[]): ReserveRequest => ({ scopes, input: 9, maxOutput: 1 });

/** Expects `promise` to reject with StoreUnavailableError within 3× the store's deadline. */
async function expectUnavailableInTime(promise: Promise<unknown>): Promise<void> {
  const startedAt = Date.now();
  await expect(promise).rejects.toBeInstanceOf(StoreUnavailableError);
  expect(Date.now() - startedAt).toBeLessThan(3 * TIMEOUT_MS);
}

/** Retries `attempt` every 20 ms until it returns true (a wait, not a timed assertion). */
async function eventually(attempt: () => Promise<boolean>): Promise<void> {
  while (!(await attempt().catch(() => false))) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('redisStore on one node, when Redis breaks', () => {
  let server: RedisServer;
  let client: ReturnType<typeof createClient>;
  const ping = async () => String(await client.sendCommand(['PING'])) === 'PONG';

  beforeAll(async () => {
    server = await startRedis();
    client = createClient({ url: server.url, socket: { reconnectStrategy: () => 50 } });
    await client.connect();
  });
  afterAll(async () => {
    client.destroy();
    await server.close();
  });

  it('throws StoreUnavailableError within the deadline once Redis is killed, and reports the outage once', async () => {
    const onError = jest.fn();
    const store = redisStore(client, { timeoutMs: TIMEOUT_MS, onError, prefix: freshPrefix() });
    const user = scope(userScopeKey('killed', 'day'), 1000);
    granted(await store.reserve(tenTokens(user)));
    await server.kill();
    for (let attempt = 0; attempt < 3; attempt++) await expectUnavailableInTime(store.reserve(tenTokens(user)));
    expect(onError).toHaveBeenCalledTimes(1);
    await server.restart();
    await eventually(ping);
    // Back: the restarted server is empty.
    expect(granted(await store.reserve(tenTokens(user))).outputCap).toBe(1);
    expect((await store.usage(user)).used).toBe(10);
  });

  it('gives back a grant whose reply arrives after the deadline', async () => {
    let replyDelayMs = 0;
    // The reply is held on its way back, as by a slow network or a busy event loop.
    const lagging = {
      on: client.on.bind(client),
      sendCommand: async (args: string[]) => {
        const reply = await client.sendCommand(args);
        await new Promise((resolve) => setTimeout(resolve, replyDelayMs));
        return reply;
      },
    };
    const store = redisStore(lagging as never, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix: freshPrefix() });
    const user = scope(userScopeKey('late-reply', 'day'), 1000);
    await store.usage(user);
    replyDelayMs = TIMEOUT_MS + 200;
    await expect(store.reserve(tenTokens(user))).rejects.toBeInstanceOf(StoreUnavailableError);
    replyDelayMs = 0;
    await eventually(async () => (await store.usage(user)).used === 0);
    expect((await store.usage(user)).used).toBe(0);
  });

  it('throws StoreUnavailableError within the deadline while Redis is stopped', async () => {
    const store = redisStore(client, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix: freshPrefix() });
    const user = scope(userScopeKey('stopped', 'day'), 1000);
    granted(await store.reserve(tenTokens(user)));
    server.stop();
    try {
      await expectUnavailableInTime(store.reserve(tenTokens(user)));
      await expectUnavailableInTime(store.usage(user));
      const reservation = { parts: [{ scope: user, windowKey: 'tb:any', amount: 10 }], leaseId: 'any', input: 9, outputCap: 1 };
      await expectUnavailableInTime(store.settle(reservation, 5));
    } finally {
      server.cont();
    }
  });

  it('gives back a reservation written to a stopped server that runs after SIGCONT', async () => {
    const store = redisStore(client, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix: freshPrefix() });
    const user = scope(userScopeKey('late', 'day'), 1000);
    const minute = scope(globalScopeKey('tpm'), 1000, perMinute, 'global');
    // Loads the script and learns Redis's clock.
    granted(await store.reserve(tenTokens(scope(userScopeKey('warm-up', 'day'), 1000))));
    server.stop();
    try {
      await expectUnavailableInTime(store.reserve(tenTokens(user, minute)));
    } finally {
      server.cont();
    }
    // The caller was told the store is unavailable: what the late script granted is given back.
    await eventually(async () => (await store.usage(user)).used === 0 && (await store.usage(minute)).used === 0);
    expect([(await store.usage(user)).used, (await store.usage(minute)).used]).toEqual([0, 0]);
  });

  it('cancels a reservation whose connection was dropped while Redis was stopped, before granting again', async () => {
    // A socket time-out (as many apps set) drops the connection that carried the script; Redis still runs it on SIGCONT.
    const dropping = createClient({ url: server.url, socket: { socketTimeout: 400, reconnectStrategy: () => 50 } });
    dropping.on('error', () => {});
    await dropping.connect();
    const store = redisStore(dropping, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix: freshPrefix() });
    const user = scope(userScopeKey('dropped', 'day'), 1000);
    granted(await store.reserve(tenTokens(scope(userScopeKey('warm-up', 'day'), 1000))));
    server.stop();
    try {
      await expectUnavailableInTime(store.reserve(tenTokens(user)));
      await new Promise((resolve) => setTimeout(resolve, 800));
    } finally {
      server.cont();
    }
    const other = scope(userScopeKey('after', 'day'), 1000);
    await eventually(async () => (await store.reserve(tenTokens(other))).ok);
    // The dropped script ran on resume (or was stopped by the cancel's marker): either way nothing stays held.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await store.usage(user)).used).toBe(0);
    dropping.destroy();
  });

  it('cancels a given-up reservation whose lease another process took meanwhile: its input goes back too', async () => {
    // A client whose reply to one reservation is lost: the script ran in Redis, the caller was never told.
    let loseNextReply = false;
    const losing = {
      sendCommand: (args: string[]) => {
        const reply = client.sendCommand(args);
        if (!loseNextReply || args[0] !== 'EVALSHA') return reply;
        loseNextReply = false;
        return new Promise(() => {});
      },
      on: () => losing,
    };
    const prefix = freshPrefix();
    const store = redisStore(losing as unknown as typeof client, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix });
    const other = redisStore(client, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix });
    const user = scope(userScopeKey('lost-reply', 'day'), 1000);
    // Loads the script, so that the lost call is an EVALSHA that runs.
    granted(await store.reserve(tenTokens(scope(userScopeKey('warm-up', 'day'), 1000))));
    loseNextReply = true;
    await expectUnavailableInTime(store.reserve({ scopes: [user], input: 100, maxOutput: 40, leaseMs: 100 }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    // Another process's call past that lease takes it at its input (R7), and uses 30 tokens of its own.
    await other.settle(granted(await other.reserve(tenTokens(user))), 30);
    expect((await other.usage(user)).used).toBe(130);
    // The caller that gave up reserves again: first it cancels what it gave up, the input and no more (nothing was sent).
    granted(await store.reserve(tenTokens(scope(userScopeKey('next', 'day'), 1000))));
    expect((await other.usage(user)).used).toBe(30);
  });

  it('waits on a store that keeps answering other calls: busy is not dead', async () => {
    let slowKey = '';
    const queued = {
      on: client.on.bind(client),
      sendCommand: async (args: string[]) => {
        const reply = await client.sendCommand(args);
        // This reservation's reply comes back after 1.5 deadlines, as from the end of a long queue.
        if (slowKey && args.some((arg) => arg.includes(slowKey)))
          await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS * 1.5));
        return reply;
      },
    };
    const store = redisStore(queued as never, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix: freshPrefix() });
    const slow = scope(userScopeKey('queued', 'day'), 1000);
    const other = scope(userScopeKey('other', 'day'), 1000);
    slowKey = 'u=queued';
    let answering = true;
    const others = (async () => {
      while (answering) {
        await store.usage(other);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      expect(granted(await store.reserve(tenTokens(slow))).outputCap).toBe(1);
    } finally {
      answering = false;
      await others;
    }
    // Nothing answers for 1.5 deadlines: the same call is given up.
    await expectUnavailableInTime(store.reserve(tenTokens(slow)));
  });

  describe('resilientStore', () => {
    let primary: Store;
    let fallback: ReturnType<typeof memoryStore>;
    let onError: jest.Mock;
    const user = scope(userScopeKey('resilient', 'day'), 100);
    const global = scope(globalScopeKey('tpm'), 10_000, perMinute, 'global');

    beforeEach(() => {
      primary = redisStore(client, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix: freshPrefix() });
      fallback = memoryStore();
      onError = jest.fn();
    });
    afterEach(() => fallback.close());

    /** Runs `test` with Redis stopped. */
    async function whileStopped(test: () => Promise<void>): Promise<void> {
      server.stop();
      try {
        await test();
      } finally {
        server.cont();
      }
    }

    it('fails closed: throws StoreUnavailableError within the deadline if any scope fails closed', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 60_000, onError });
      await whileStopped(async () => {
        const request = tenTokens(withPolicy(global, 'fallback'), withPolicy(user, 'fail-closed'));
        await expectUnavailableInTime(store.reserve(request));
        // Cooling down: refused at once, without waiting for Redis again.
        await expectUnavailableInTime(store.reserve(request));
      });
      expect(await fallback.usage(global)).toMatchObject({ used: 0 });
      expect(onError).toHaveBeenCalledTimes(1);
    });

    it('fails open: admits without counting the scope', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 60_000, onError });
      await whileStopped(async () => {
        const result = await store.reserve({ scopes: [withPolicy(user, 'fail-open')], input: 95, maxOutput: 50 });
        expect(result.ok && result.reservation).toMatchObject({ parts: [], input: 95, outputCap: 50 });
        expect(result.scopes).toMatchObject([{ key: user.key, used: 0, remaining: 100 }]);
      });
      // The stalled reservation ran after SIGCONT and was given back.
      await eventually(async () => (await primary.usage(user)).used === 0);
    });

    it('falls back: counts the scope in memory with the same limit, skipping fail-open scopes', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 60_000, onError });
      await store.usage(withPolicy(user, 'fallback'));
      await whileStopped(async () => {
        const scopes = [withPolicy(global, 'fail-open'), withPolicy(user, 'fallback')];
        const first = granted(await store.reserve({ scopes, input: 50, maxOutput: 10 }));
        expect(first.outputCap).toBe(10);
        expect(first.parts.map((p) => p.scope.key)).toEqual([user.key]);
        const second = await store.reserve({ scopes, input: 50, maxOutput: 10 });
        expect(second.ok).toBe(false);
        if (!second.ok) expect(second.refused).toMatchObject({ key: user.key, used: 60, remaining: 40 });
        expect(second.scopes.map((s) => [s.key, s.used])).toEqual([
          [global.key, 0],
          [user.key, 60],
        ]);
        expect(await store.usage(withPolicy(user, 'fallback'))).toMatchObject({ used: 60 });
      });
      await eventually(async () => (await primary.usage(user)).used === 0);
    });

    it('leaves the primary alone while cooling down: one deadline per outage, not one per request', async () => {
      const reserve = jest.spyOn(primary, 'reserve');
      const store = resilientStore(primary, { fallback, cooldownMs: 60_000, onError });
      await store.usage(withPolicy(user, 'fallback'));
      await whileStopped(async () => {
        for (let i = 0; i < 3; i++) granted(await store.reserve(tenTokens(withPolicy(user, 'fallback'))));
      });
      expect(reserve).toHaveBeenCalledTimes(1);
      expect(onError).toHaveBeenCalledTimes(1);
      expect(onError.mock.calls[0]![0]).toBeInstanceOf(StoreUnavailableError);
    });

    it('goes back to Redis after SIGCONT with what the fallback counted; a call settled later still lands in Redis', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 100, onError });
      const fallbackUser = withPolicy(user, 'fallback');
      await store.usage(fallbackUser);
      server.stop();
      const duringOutage = await store.reserve(tenTokens(fallbackUser)).finally(() => server.cont());
      expect((await fallback.usage(user)).used).toBe(10);
      // Handed back, then forgotten: the next outage starts from Redis's word again.
      await eventually(async () => {
        await store.usage(fallbackUser);
        return (await primary.usage(user)).used === 10 && (await fallback.usage(user)).used === 0;
      });
      granted(await store.reserve(tenTokens(fallbackUser)));
      expect((await primary.usage(user)).used).toBe(20);
      await store.settle(granted(duringOutage), 4);
      await store.usage(fallbackUser);
      expect((await primary.usage(user)).used).toBe(14);
    });

    it('refuses a scope this process never saw during the outage instead of granting it a fresh quota', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 60_000, onError });
      await whileStopped(async () => {
        await expectUnavailableInTime(
          store.reserve(tenTokens(withPolicy(scope(userScopeKey('stranger', 'day'), 100), 'fallback'))),
        );
        await expect(
          store.reserve(tenTokens(withPolicy(scope(userScopeKey('stranger', 'day'), 100), 'fallback'))),
        ).rejects.toThrow(/has not seen/);
      });
    });

    it('goes back to Redis after a restart', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 100, onError });
      const fallbackUser = withPolicy(user, 'fallback');
      await store.usage(fallbackUser);
      await server.kill();
      granted(await store.reserve(tenTokens(fallbackUser)));
      expect((await fallback.usage(user)).used).toBe(10);
      await server.restart();
      // The restarted Redis is empty: it gets what the fallback counted, and counts again.
      await eventually(async () => {
        await store.usage(fallbackUser);
        return (await primary.usage(user)).used === 10 && (await fallback.usage(user)).used === 0;
      });
      granted(await store.reserve(tenTokens(fallbackUser)));
      expect([(await primary.usage(user)).used, (await fallback.usage(user)).used]).toEqual([20, 0]);
    });

    it('starts the fallback from what Redis last said, and hands what it counted back when Redis returns', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 100, onError });
      const fallbackUser = withPolicy(user, 'fallback');
      await store.settle(granted(await store.reserve({ scopes: [fallbackUser], input: 50, maxOutput: 20 })), 60);
      await whileStopped(async () => {
        // A fresh quota would admit 46 tokens; 60 were used already.
        await expectUnavailableInTime(store.reserve({ scopes: [withPolicy(user, 'fail-closed')], input: 1, maxOutput: 1 }));
        expect((await store.reserve({ scopes: [fallbackUser], input: 45, maxOutput: 1 })).ok).toBe(false);
        const duringOutage = granted(await store.reserve({ scopes: [fallbackUser], input: 9, maxOutput: 1 }));
        await store.settle(duringOutage, 7);
        expect((await fallback.usage(user)).used).toBe(67);
      });
      await eventually(async () => {
        await store.usage(fallbackUser);
        return (await primary.usage(user)).used === 67;
      });
      // Handed back once: later calls add nothing more.
      await store.usage(fallbackUser);
      expect((await primary.usage(user)).used).toBe(67);
    });

    it('reports a failing settle instead of throwing it; the written settle still lands after SIGCONT', async () => {
      const store = resilientStore(primary, { fallback, cooldownMs: 60_000, onError });
      const reservation = granted(await store.reserve(tenTokens(user)));
      // Loads the settle script, so that the stalled settle needs no EVAL once the server resumes.
      await store.release(granted(await store.reserve(tenTokens(global))));
      await whileStopped(async () => {
        const startedAt = Date.now();
        await expect(store.settle(reservation, 5)).resolves.toEqual({ spent: [] });
        expect(Date.now() - startedAt).toBeLessThan(3 * TIMEOUT_MS);
      });
      expect(onError).toHaveBeenCalled();
      expect(onError.mock.calls.every(([err]) => err instanceof StoreUnavailableError)).toBe(true);
      expect((await primary.usage(user)).used).toBe(5);
    });
  });
});

describe('redisStore on a cluster, when one node stalls', () => {
  let env: Awaited<ReturnType<typeof startConnectedCluster>>;
  beforeAll(async () => {
    env = await startConnectedCluster();
  });
  afterAll(() => env.close());

  /** The server owning the slot of `key`. */
  async function ownerOf(key: string): Promise<RedisServer> {
    const slot = Number(await env.client.sendCommand(key, true, ['CLUSTER', 'KEYSLOT', key]));
    const ranges = (await env.client.sendCommand(key, true, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number]][];
    const [, , [, port]] = ranges.find(([start, end]) => slot >= start && slot <= end)!;
    return env.servers.nodes.find((node) => node.port === Number(port))!;
  }

  it('throws within the deadline, rolls back the other slots, and gives back what the stalled slot grants later', async () => {
    const prefix = freshPrefix();
    const store = redisStore(env.client, { timeoutMs: TIMEOUT_MS, onError: () => {}, prefix });
    const users = Array.from({ length: 20 }, (_, i) => scope(userScopeKey(`node${i}`, 'day'), 1000));
    const owners = await Promise.all(users.map((u) => ownerOf(`${prefix}${u.key}`)));
    const stalled = owners[0]!;
    const healthy = users[owners.findIndex((owner) => owner !== stalled)]!;
    const onStalled = users[0]!;
    granted(await store.reserve(tenTokens(healthy, onStalled)));
    stalled.stop();
    try {
      await expectUnavailableInTime(store.reserve(tenTokens(healthy, onStalled)));
    } finally {
      stalled.cont();
    }
    const both = async () => [(await store.usage(healthy)).used, (await store.usage(onStalled)).used];
    await eventually(async () => JSON.stringify(await both()) === '[10,10]');
    expect(await both()).toEqual([10, 10]);
  });
});

describe('resilientStore with a scripted primary', () => {
  it('lets one call probe the primary after the cool-down; the calls that come meanwhile wait for its verdict', async () => {
    let failNext = true;
    let heldProbe: Promise<void> | undefined;
    let answerProbe: (() => void) | undefined;
    const fallback = memoryStore();
    const healthy = memoryStore();
    const primary: Store = {
      reserve: jest.fn(async (request: ReserveRequest) => {
        if (failNext) {
          failNext = false;
          throw new StoreUnavailableError('down');
        }
        if (!heldProbe) {
          heldProbe = new Promise<void>((resolve) => (answerProbe = resolve));
          await heldProbe;
        }
        return healthy.reserve(request);
      }),
      settle: (reservation, tokens) => healthy.settle(reservation, tokens),
      release: (reservation) => healthy.release(reservation),
      usage: (s) => healthy.usage(s),
    };
    const store = resilientStore(primary, { fallback, cooldownMs: 0, onError: () => {} });
    const user = withPolicy(scope(userScopeKey('probe', 'day'), 1000), 'fallback');
    await store.usage(user);
    granted(await store.reserve(tenTokens(user)));
    const probe = store.reserve(tenTokens(user));
    const others = Promise.all([store.reserve(tenTokens(user)), store.reserve(tenTokens(user))]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The failure and the probe reached the primary; the others wait instead of counting in the fallback.
    expect(primary.reserve).toHaveBeenCalledTimes(2);
    expect((await fallback.usage(user)).used).toBe(10);
    answerProbe!();
    granted(await probe);
    (await others).forEach(granted);
    expect(primary.reserve).toHaveBeenCalledTimes(4);
    expect((await healthy.usage(user)).used).toBe(30);
    await Promise.all([fallback.close(), healthy.close()]);
  });
});
