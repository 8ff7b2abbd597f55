// The Store contract suite: the tests every store (memory, Redis, Redis Cluster) must pass alike.
import { createHash } from 'node:crypto';
import { featureScopeKey, globalScopeKey, userScopeKey } from '../../lib/store/keys';
import type {
  FixedWindow,
  ReserveResult,
  Reservation,
  ScopeKind,
  ScopeRequest,
  SlidingWindow,
  Store,
} from '../../lib/store/types';

/** A store backend under test. */
export interface ContractBackend {
  /** A fresh store on the clock `now`, sharing no counter with any other store made here. */
  createStore(now: () => number): Store;
  /** Whether scopes with different hash tags are reserved by separate scripts (a cluster). */
  clustered: boolean;
  /** Redis backends: direct access to keys, for TTL and existence checks. Without it, the store must be sweepable (memoryStore). */
  inspect?: {
    pttl(key: string): Promise<number>;
    exists(key: string): Promise<boolean>;
    del(key: string): Promise<void>;
  };
}

const DAY = 86_400_000;
const SETTLE_GRACE_MS = 15 * 60_000;
/** 2026-11-28T12:00:00Z: noon, on a minute and second boundary. */
const NOON = Date.UTC(2026, 10, 28, 12);

export const utcDay: FixedWindow = {
  kind: 'fixed',
  periodAt(nowMs) {
    const startMs = nowMs - (nowMs % DAY);
    return { id: new Date(startMs).toISOString().slice(0, 10), startMs, endMs: startMs + DAY };
  },
};

export const perMinute: SlidingWindow = { kind: 'sliding', windowMs: 60_000, bucketMs: 1000 };

export function scope(
  key: string,
  limit: number,
  window: FixedWindow | SlidingWindow = utcDay,
  kind: ScopeKind = 'user',
): ScopeRequest {
  return { kind, key, limit, window, onUnavailable: 'fail-closed' };
}

/** memoryStore's own view of its counters: it forgets expired ones when swept, on its own clock. */
interface Sweepable {
  sweep(): number;
  readonly size: number;
}

function sweepable(store: Store): Sweepable {
  if (!('sweep' in store && 'size' in store)) throw new Error('a backend without inspect must have sweep() and size');
  return store as Store & Sweepable;
}

export function granted(result: ReserveResult): Reservation {
  if (!result.ok) throw new Error(`expected a grant, got a refusal by ${result.refused.key}`);
  return result.reservation;
}

/** Registers the contract tests in the enclosing `describe`; `backend` is called once the suite runs. */
export function storeContract(backend: () => ContractBackend): void {
  let nowMs = NOON;
  let store: Store;
  const clock = {
    set: (ms: number) => {
      nowMs = ms;
    },
    advance: (ms: number) => {
      nowMs += ms;
    },
  };

  beforeEach(() => {
    nowMs = NOON;
    store = backend().createStore(() => nowMs);
  });
  afterEach(() => store.close?.());

  const used = async (s: ScopeRequest) => (await store.usage(s)).used;
  /** Without Redis to ask: the store's only counter is forgotten when swept at `expiresAtMs`, not a millisecond before. */
  const expectSweptAt = (expiresAtMs: number) => {
    clock.set(expiresAtMs - 1);
    expect(sweepable(store).sweep()).toBe(0);
    clock.set(expiresAtMs);
    expect(sweepable(store).sweep()).toBe(1);
  };
  const take = (s: ScopeRequest, tokens: number) => store.reserve({ scopes: [s], input: tokens - 1, maxOutput: 1 });

  describe('reserve', () => {
    it('grants input + outputCap on every scope and reports each scope in request order', async () => {
      const user = scope(userScopeKey('alice', 'day'), 1000);
      const global = scope(globalScopeKey('tpm'), 5000, perMinute, 'global');
      const result = await store.reserve({ scopes: [user, global], input: 100, maxOutput: 50 });
      const reservation = granted(result);
      expect(reservation.outputCap).toBe(50);
      expect(reservation.input).toBe(100);
      expect(reservation.parts.map((p) => [p.scope.key, p.amount])).toEqual([
        [user.key, 150],
        [global.key, 150],
      ]);
      expect(result.scopes).toEqual([
        { kind: 'user', key: user.key, limit: 1000, used: 150, remaining: 850, resetAtMs: NOON + DAY / 2 },
        // The 150 tokens leave the window when the bucket they are in is 61 buckets old.
        { kind: 'global', key: global.key, limit: 5000, used: 150, remaining: 4850, resetAtMs: NOON + 61_000 },
      ]);
    });

    it('caps the output at what every scope can still afford after the input', async () => {
      const user = scope(userScopeKey('bob', 'day'), 1000);
      const feature = scope(featureScopeKey('chat'), 10_000, utcDay, 'feature');
      granted(await take(user, 700));
      // 300 left, input 100: max_tokens 200, not 1000.
      const reservation = granted(await store.reserve({ scopes: [feature, user], input: 100, maxOutput: 1000 }));
      expect(reservation.outputCap).toBe(200);
      expect(await used(user)).toBe(1000);
      // A cluster reserves each slot on its own: the feature's slot granted 1000 and is corrected at settle.
      expect(await used(feature)).toBe(backend().clustered ? 1100 : 300);
      await store.settle(reservation, 300);
      expect([await used(user), await used(feature)]).toEqual([1000, 300]);
    });

    it('refuses when input + 1 does not fit, and grants one output token when it just does', async () => {
      const user = scope(userScopeKey('carol', 'day'), 1000);
      granted(await take(user, 900));
      const refused = await store.reserve({ scopes: [user], input: 100, maxOutput: 50 });
      expect(refused).toEqual({
        ok: false,
        refused: { kind: 'user', key: user.key, limit: 1000, used: 900, remaining: 100, resetAtMs: NOON + DAY / 2 },
        scopes: [{ kind: 'user', key: user.key, limit: 1000, used: 900, remaining: 100, resetAtMs: NOON + DAY / 2 }],
      });
      expect(granted(await store.reserve({ scopes: [user], input: 99, maxOutput: 50 })).outputCap).toBe(1);
      expect(await used(user)).toBe(1000);
    });

    it('takes nothing from any scope when one scope refuses, whatever its place', async () => {
      const plenty = scope(featureScopeKey('chat'), 10_000, utcDay, 'feature');
      const nearlyFull = scope(userScopeKey('dave', 'day'), 100);
      const minute = scope(globalScopeKey('tpm'), 10_000, perMinute, 'global');
      granted(await take(nearlyFull, 50));
      for (const scopes of [
        [plenty, minute, nearlyFull],
        [nearlyFull, plenty, minute],
      ]) {
        const result = await store.reserve({ scopes, input: 60, maxOutput: 10 });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.refused.key).toBe(nearlyFull.key);
        expect(result.scopes.map((s) => [s.key, s.used])).toEqual(scopes.map((s) => [s.key, s === nearlyFull ? 50 : 0]));
      }
      expect([await used(plenty), await used(minute), await used(nearlyFull)]).toEqual([0, 0, 50]);
    });

    it('grants exactly limit / request-size of 200 concurrent reservations on one scope', async () => {
      const global = scope(globalScopeKey('tpm'), 1000, perMinute, 'global');
      const results = await Promise.all(Array.from({ length: 200 }, () => take(global, 10)));
      expect(results.filter((r) => r.ok)).toHaveLength(100);
      expect(await used(global)).toBe(1000);
    });

    it('never overspends 200 concurrent reservations over two scopes in different slots', async () => {
      const user = scope(userScopeKey('erin', 'day'), 1000);
      const global = scope(globalScopeKey('tpm'), 1000, perMinute, 'global');
      const results = await Promise.all(
        Array.from({ length: 200 }, () => store.reserve({ scopes: [user, global], input: 9, maxOutput: 1 })),
      );
      const grants = results.filter((r) => r.ok).length;
      // A cluster reserves each slot separately and may refuse a little early under contention.
      if (backend().clustered) expect(grants).toBeLessThanOrEqual(100);
      else expect(grants).toBe(100);
      // Whatever was refused was rolled back: each counter holds exactly what was granted.
      expect([await used(user), await used(global)]).toEqual([grants * 10, grants * 10]);
    });
  });

  describe('settle and release', () => {
    it('moves every counter to the real usage, up or down', async () => {
      const user = scope(userScopeKey('frank', 'day'), 10_000);
      const global = scope(globalScopeKey('tpm'), 10_000, perMinute, 'global');
      const first = granted(await store.reserve({ scopes: [user, global], input: 100, maxOutput: 100 }));
      await store.settle(first, 150);
      expect([await used(user), await used(global)]).toEqual([150, 150]);
      const second = granted(await store.reserve({ scopes: [user, global], input: 100, maxOutput: 100 }));
      await store.settle(second, 400);
      expect([await used(user), await used(global)]).toEqual([550, 550]);
    });

    it('gives the whole reservation back on release', async () => {
      const user = scope(userScopeKey('grace', 'day'), 10_000);
      granted(await take(user, 300));
      const reservation = granted(await store.reserve({ scopes: [user], input: 100, maxOutput: 100 }));
      expect(await used(user)).toBe(500);
      await store.release(reservation);
      expect(await used(user)).toBe(300);
    });

    it('never moves a counter below zero', async () => {
      const user = scope(userScopeKey('heidi', 'day'), 1000);
      const reservation = granted(await take(user, 200));
      await store.release(reservation);
      await store.release(reservation);
      await store.settle(reservation, 0);
      expect(await used(user)).toBe(0);
      // A counter at -400 would now admit 1,400 tokens.
      expect((await store.reserve({ scopes: [user], input: 1000, maxOutput: 1 })).ok).toBe(false);
      expect(granted(await take(user, 1000)).outputCap).toBe(1);
    });

    it('leaves the new window alone when settling after the window rolled over', async () => {
      const user = scope(userScopeKey('ivan', 'day'), 10_000);
      const global = scope(globalScopeKey('tpm'), 10_000, perMinute, 'global');
      const yesterday = granted(await store.reserve({ scopes: [user, global], input: 100, maxOutput: 100 }));
      clock.advance(DAY);
      granted(await store.reserve({ scopes: [user, global], input: 40, maxOutput: 10 }));
      await store.settle(yesterday, 5000);
      expect([await used(user), await used(global)]).toEqual([50, 50]);
      await store.release(yesterday);
      expect([await used(user), await used(global)]).toEqual([50, 50]);
    });

    it('does not bring back a counter that has expired', async () => {
      const inspect = backend().inspect;
      const user = scope(userScopeKey('judy', 'day'), 10_000);
      const reservation = granted(await take(user, 100));
      const key = reservation.parts[0]!.windowKey;
      // Redis expires keys on its own clock, which the injected one does not move.
      if (inspect) await inspect.del(key);
      else {
        expectSweptAt(NOON + DAY / 2 + SETTLE_GRACE_MS);
        // Back inside the window: a settle that re-created the counter would show in it.
        clock.set(NOON);
      }
      await store.settle(reservation, 5000);
      expect(inspect ? await inspect.exists(key) : sweepable(store).size > 0).toBe(false);
      expect(await used(user)).toBe(0);
    });
  });

  describe('usage', () => {
    it('reads without changing anything', async () => {
      const user = scope(userScopeKey('ken', 'day'), 1000);
      const global = scope(globalScopeKey('tpm'), 1000, perMinute, 'global');
      for (let read = 0; read < 2; read++) {
        expect(await store.usage(user)).toEqual({
          kind: 'user',
          key: user.key,
          limit: 1000,
          used: 0,
          remaining: 1000,
          resetAtMs: NOON + DAY / 2,
        });
        expect(await store.usage(global)).toEqual({
          kind: 'global',
          key: global.key,
          limit: 1000,
          used: 0,
          remaining: 1000,
          resetAtMs: NOON,
        });
      }
      const keys = [granted(await take(user, 10)), granted(await take(global, 20))].map((r) => r.parts[0]!.windowKey);
      expect([await used(user), await used(global)]).toEqual([10, 20]);
      expect([await used(user), await used(global)]).toEqual([10, 20]);
      // Had usage() created the counters, the reservations would have found them and set no TTL.
      const inspect = backend().inspect;
      if (inspect) for (const key of keys) expect(await inspect.pttl(key)).toBeGreaterThan(0);
    });
  });

  describe('expiry', () => {
    it('sets a fixed window counter to expire at period end + grace, once, when it is created', async () => {
      const inspect = backend().inspect;
      const user = scope(userScopeKey('leo', 'day'), 10_000);
      const key = granted(await take(user, 10)).parts[0]!.windowKey;
      const expected = DAY / 2 + SETTLE_GRACE_MS;
      if (!inspect) {
        clock.advance(30 * 60_000);
        granted(await take(user, 10));
        expectSweptAt(NOON + expected);
        return;
      }
      const first = await inspect.pttl(key);
      expect(first).toBeLessThanOrEqual(expected);
      expect(first).toBeGreaterThan(expected - 5000);
      // Thirty minutes later on the store's clock: recomputing the TTL would cut it by 30 min.
      clock.advance(30 * 60_000);
      granted(await take(user, 10));
      const second = await inspect.pttl(key);
      expect(second).toBeLessThanOrEqual(first);
      expect(second).toBeGreaterThan(first - 5000);
    });

    it('sets a sliding bucket to expire a window and two buckets after the bucket starts, once', async () => {
      const inspect = backend().inspect;
      const global = scope(globalScopeKey('tpm'), 10_000, perMinute, 'global');
      clock.advance(300);
      const key = granted(await take(global, 10)).parts[0]!.windowKey;
      if (!inspect) {
        clock.advance(600);
        expect(granted(await take(global, 10)).parts[0]!.windowKey).toBe(key);
        // The bucket of 12:00:00 leaves the window at 12:01:01; its counter goes a bucket later.
        expectSweptAt(NOON + 62_000);
        return;
      }
      const first = await inspect.pttl(key);
      expect(first).toBeLessThanOrEqual(61_700);
      expect(first).toBeGreaterThan(61_700 - 5000);
      // 600 ms later on the store's clock, same bucket: recomputing the TTL would cut it by 600 ms.
      clock.advance(600);
      expect(granted(await take(global, 10)).parts[0]!.windowKey).toBe(key);
      const second = await inspect.pttl(key);
      expect(second).toBeLessThanOrEqual(first);
      expect(second).toBeGreaterThan(first - 300);
    });
  });

  describe('rankings', () => {
    const rank = (key: string, member: string, amount: number, ttlMs = DAY) => store.rank!([{ key, member, amount, ttlMs }]);

    it('adds up each member and reads the highest first, within the limit', async () => {
      const key = 'r:{ranks}:day';
      await store.rank!([
        { key, member: 'alice', amount: 30, ttlMs: DAY },
        { key, member: 'bob', amount: 50, ttlMs: DAY },
        { key, member: 'carol', amount: 10, ttlMs: DAY },
        { key: 'r:{ranks}:other', member: 'dave', amount: 99, ttlMs: DAY },
      ]);
      await rank(key, 'alice', 25);
      await rank(key, 'o:{x}=1 \n', 1);
      expect(await store.ranked!(key, 2)).toEqual([
        { member: 'alice', score: 55 },
        { member: 'bob', score: 50 },
      ]);
      expect(await store.ranked!(key, 10)).toEqual([
        { member: 'alice', score: 55 },
        { member: 'bob', score: 50 },
        { member: 'carol', score: 10 },
        { member: 'o:{x}=1 \n', score: 1 },
      ]);
      expect(await store.ranked!('r:{ranks}:never', 10)).toEqual([]);
    });

    it('orders equal scores as Redis does: the greater member first', async () => {
      await store.rank!(['a', 'c', 'b'].map((member) => ({ key: 'r:{ties}', member, amount: 7, ttlMs: DAY })));
      expect((await store.ranked!('r:{ties}', 3)).map((m) => m.member)).toEqual(['c', 'b', 'a']);
    });

    it('forgets a ranking once its lifetime from creation ends; later increments do not extend it', async () => {
      const inspect = backend().inspect;
      // Redis expires keys on its own clock: real time passes there, the injected clock here.
      const pass = async (ms: number) => {
        clock.advance(ms);
        if (inspect) await new Promise((resolve) => setTimeout(resolve, ms));
      };
      await rank('r:{ttl}', 'alice', 5, 1000);
      await pass(300);
      await rank('r:{ttl}', 'alice', 5, 1000);
      expect(await store.ranked!('r:{ttl}', 1)).toEqual([{ member: 'alice', score: 10 }]);
      await pass(800);
      expect(await store.ranked!('r:{ttl}', 1)).toEqual([]);
    });
  });

  describe('sliding window', () => {
    it('does not admit twice the limit across a minute boundary, and frees tokens as their bucket leaves', async () => {
      const global = scope(globalScopeKey('tpm'), 6000, perMinute, 'global');
      clock.advance(59_500);
      granted(await take(global, 6000));
      clock.advance(1000); // 12:01:00.500, a new minute: a fixed per-minute counter would start over.
      const refused = await take(global, 10);
      expect(refused.ok).toBe(false);
      // The 6,000 tokens sit in the bucket of 12:00:59, counted until 12:02:00.
      if (!refused.ok) expect(refused.refused.resetAtMs).toBe(NOON + 120_000);
      clock.set(NOON + 119_999);
      expect((await take(global, 10)).ok).toBe(false);
      clock.set(NOON + 120_000);
      expect(granted(await take(global, 6000)).outputCap).toBe(1);
    });

    it('admits at most the limit in any 60 s and at least 98% of it per minute under steady load', async () => {
      const limit = 6000;
      const global = scope(globalScopeKey('tpm'), limit, perMinute, 'global');
      const admitted: { atMs: number; tokens: number }[] = [];
      // 150 tokens/s offered (1.5× the limit), in 10-token requests every 200 ms, for 5 minutes.
      for (let step = 0; step < 5 * 60 * 5; step++) {
        clock.set(NOON + step * 200);
        for (let request = 0; request < 3; request++) {
          if ((await take(global, 10)).ok) admitted.push({ atMs: NOON + step * 200, tokens: 10 });
        }
      }
      const within = (fromMs: number, toMs: number) =>
        admitted.filter((a) => a.atMs >= fromMs && a.atMs < toMs).reduce((sum, a) => sum + a.tokens, 0);
      const worst60s = Math.max(...admitted.map((a) => within(a.atMs, a.atMs + 60_000)));
      expect(worst60s).toBeLessThanOrEqual(limit);
      for (let minute = 1; minute < 5; minute++) {
        expect(within(NOON + minute * 60_000, NOON + (minute + 1) * 60_000)).toBeGreaterThanOrEqual(0.98 * limit);
      }
    });
  });

  describe('keys', () => {
    const hashOf = (id: string) => createHash('sha256').update(Buffer.from(id, 'utf16le')).digest('base64url');
    const awkwardIds = [
      'alice',
      'a:b',
      'a:b:day',
      'a{b}c',
      '{',
      '}',
      '{}',
      'a\nb',
      'a\rb',
      'ünïcødé',
      '用户',
      '😀',
      '\uD800',
      '\uD801',
      'x'.repeat(10_000),
      'x'.repeat(64),
      'x'.repeat(65),
      hashOf('a:b'),
      `h=${hashOf('a:b')}`,
      `u=alice`,
      '',
    ];

    it('gives every user id its own counters', async () => {
      const scopes = awkwardIds.map((id) => scope(userScopeKey(id, 'day'), 1000));
      expect(new Set(scopes.map((s) => s.key)).size).toBe(awkwardIds.length);
      for (const [i, s] of scopes.entries()) granted(await take(s, i + 1));
      for (const [i, s] of scopes.entries()) expect(await used(s)).toBe(i + 1);
    });
  });

  describe('leases', () => {
    const LEASE_MS = 5 * 60_000;
    const user = scope(userScopeKey('lease-user', 'day'), 10_000);
    const global = scope(globalScopeKey('lease-tpm'), 10_000, perMinute, 'global');
    const reserveLeased = (input: number, maxOutput: number, scopes = [user]) =>
      store.reserve({ scopes, input, maxOutput, leaseMs: LEASE_MS });

    it('settles a reservation left past its lease at its input, on the next reservation of the scope', async () => {
      granted(await reserveLeased(100, 900));
      clock.advance(LEASE_MS - 1);
      granted(await reserveLeased(10, 0 + 1));
      expect(await used(user)).toBe(1000 + 11);
      clock.advance(1);
      granted(await reserveLeased(10, 1));
      // The dead call keeps its input (billed), gives back its 900 output tokens.
      expect(await used(user)).toBe(100 + 11 + 11);
    });

    it('takes a dead call back from a sliding window too', async () => {
      const scopes = [global];
      granted(await reserveLeased(200, 800, scopes));
      const lease = 30_000;
      granted(await store.reserve({ scopes, input: 5, maxOutput: 5, leaseMs: lease }));
      clock.advance(lease);
      granted(await store.reserve({ scopes, input: 1, maxOutput: 1 }));
      // The 10-token call's lease (30 s) ran out: its 5 output tokens went back; the first lease still holds.
      expect(await used(global)).toBe(1000 + 5 + 2);
    });

    it('settles a call that answers after its lease was taken by what it used beyond its input', async () => {
      const late = granted(await reserveLeased(100, 900));
      clock.advance(LEASE_MS);
      granted(await reserveLeased(10, 1));
      expect(await used(user)).toBe(100 + 11);
      await store.settle(late, 350);
      expect(await used(user)).toBe(350 + 11);
      // Settled once: a later expiry gives back only the 11-token call's output token.
      clock.advance(LEASE_MS);
      granted(await reserveLeased(10, 1));
      expect(await used(user)).toBe(350 + 10 + 11);
    });

    it('moves nothing when a settle is retried, before or after its lease was taken', async () => {
      const twice = granted(await reserveLeased(100, 900));
      await store.settle(twice, 300);
      await store.settle(twice, 300);
      await store.release(twice);
      expect(await used(user)).toBe(300);
      const late = granted(await reserveLeased(100, 900));
      clock.advance(LEASE_MS);
      granted(await reserveLeased(10, 1));
      expect(await used(user)).toBe(300 + 100 + 11);
      await store.settle(late, 250);
      await store.settle(late, 250);
      expect(await used(user)).toBe(300 + 250 + 11);
    });

    it('reports the spend move of a settle again when it is retried, and moves nothing', async () => {
      const tracked = { ...scope(userScopeKey('retried-spend', 'day'), 10_000), tracksSpend: true };
      const reservation = granted(await store.reserve({ scopes: [tracked], input: 10, maxOutput: 90, leaseMs: LEASE_MS }));
      const first = await store.settle(reservation, 40);
      expect(first.spent).toEqual([{ scope: tracked, before: 0, after: 40 }]);
      expect((await store.settle(reservation, 40)).spent).toEqual(first.spent);
      expect(await store.spentAt!(tracked, [nowMs])).toEqual([40]);
    });

    it('ends the lease when a reservation is settled or released in time', async () => {
      const settled = granted(await reserveLeased(100, 900, [user, global]));
      const released = granted(await reserveLeased(50, 50, [user, global]));
      await store.settle(settled, 400);
      await store.release(released);
      expect([await used(user), await used(global)]).toEqual([400, 400]);
      clock.advance(LEASE_MS);
      granted(await reserveLeased(1, 1, [user]));
      expect(await used(user)).toBe(402);
    });

    it('gives each reservation its own lease id', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) ids.add(granted(await reserveLeased(1, 1)).leaseId);
      expect(ids.size).toBe(20);
    });
  });

  describe('add (counts taken elsewhere)', () => {
    it('adds to the window of the instant given, creating it, never below zero, skipping ended windows', async () => {
      const add = store.add?.bind(store);
      if (!add) throw new Error('every store of the contract can take counts back');
      const user = scope(userScopeKey('merged', 'day'), 10_000);
      const global = scope(globalScopeKey('merged-tpm'), 10_000, perMinute, 'global');
      await add([
        { scope: user, atMs: NOON, amount: 300 },
        { scope: global, atMs: NOON, amount: 40 },
      ]);
      expect([await used(user), await used(global)]).toEqual([300, 40]);
      await add([{ scope: user, atMs: NOON, amount: -500 }]);
      expect(await used(user)).toBe(0);
      granted(await take(user, 10));
      await add([{ scope: user, atMs: NOON - 2 * DAY, amount: 999 }]);
      expect(await used(user)).toBe(10);
      const inspect = backend().inspect;
      if (inspect) {
        const key = granted(await take(global, 1)).parts[0]!.windowKey;
        expect(await inspect.pttl(key)).toBeGreaterThan(0);
      }
    });
  });

  it('adds a batch once, however often it is retried', async () => {
    const user = scope(userScopeKey('retried', 'day'), 10_000);
    for (let attempt = 0; attempt < 3; attempt++) await store.add!([{ scope: user, atMs: NOON, amount: 70 }], 'batch-1');
    await store.add!([{ scope: user, atMs: NOON, amount: 5 }], 'batch-2');
    expect(await used(user)).toBe(75);
  });

  it("adds a count's settled spend to its window's settled counter once per batch, and reports it to a retry too", async () => {
    const tracked = { ...scope(userScopeKey('spent-back', 'day'), 10_000), tracksSpend: true };
    granted(await take(tracked, 10));
    const counts = [{ scope: tracked, atMs: NOON, amount: 120, spent: 90 }];
    expect((await store.add!(counts, 'spent-1')).spent).toEqual([{ scope: tracked, before: 0, after: 90 }]);
    // A retry comes only when the first reply was lost: nobody saw that move, so it is reported again.
    expect((await store.add!(counts, 'spent-1')).spent).toEqual([{ scope: tracked, before: 0, after: 90 }]);
    expect(await store.spentAt!(tracked, [NOON])).toEqual([90]);
    expect(await used(tracked)).toBe(130);
  });

  it('counts the processes whose heartbeat has not expired (stores shared by processes)', async () => {
    if (!store.heartbeat) return;
    const id = `beat-${Math.random()}`;
    expect(await store.heartbeat(`${id}-a`, 60_000)).toBeGreaterThanOrEqual(1);
    const alive = await store.heartbeat(`${id}-b`, 150);
    expect(await store.heartbeat(`${id}-a`, 60_000)).toBe(alive);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await store.heartbeat(`${id}-a`, 60_000)).toBe(alive - 1);
  });

  describe('money scopes', () => {
    // 2 nano-USD a prompt token, 1 a cached one, 10 an output token; a 1,000 nano-USD cap.
    const weights = { input: 2, cachedInput: 1, output: 10 };
    const wallet = (key = 'wallet', limit = 1000): ScopeRequest => ({
      ...scope(featureScopeKey(key), limit, utcDay, 'spend'),
      weights,
      tracksSpend: true,
    });

    it('grants the output the money left can pay for, and refuses when the input alone does not fit', async () => {
      const money = wallet();
      const tokens = scope(userScopeKey('payer', 'day'), 10_000);
      const reservation = granted(await store.reserve({ scopes: [tokens, money], input: 100, maxOutput: 500 }));
      // 200 for the prompt, 800 left: 80 output tokens.
      expect(reservation.outputCap).toBe(80);
      // A cluster reserves each slot on its own: the token scope's slot granted all 500 (settle corrects it).
      expect(reservation.parts.map((p) => p.amount)).toEqual([backend().clustered ? 600 : 180, 1000]);
      const refused = await store.reserve({ scopes: [money], input: 1, maxOutput: 1 });
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.refused).toMatchObject({ kind: 'spend', used: 1000, remaining: 0 });
    });

    it('settles each scope in its own unit and reports the settled spend before and after', async () => {
      const money = wallet();
      const tokens = scope(userScopeKey('payer2', 'day'), 10_000);
      const reservation = granted(await store.reserve({ scopes: [tokens, money], input: 100, maxOutput: 50 }));
      const report = await store.settle(reservation, { input: 100, cachedInput: 40, output: 30 });
      // 60 × 2 + 40 × 1 + 30 × 10 nano-USD; 130 tokens.
      expect([await used(tokens), await used(money)]).toEqual([130, 460]);
      expect(report.spent).toEqual([{ scope: money, before: 0, after: 460 }]);
      const second = granted(await store.reserve({ scopes: [money], input: 10, maxOutput: 5 }));
      expect((await store.settle(second, { input: 10, cachedInput: 0, output: 5 })).spent).toEqual([
        { scope: money, before: 460, after: 530 },
      ]);
      expect(await store.spentAt!(money, [NOON, NOON - DAY])).toEqual([530, 0]);
    });

    it('keeps in-flight reservations out of the settled spend', async () => {
      const money = wallet('inflight', 100_000);
      granted(await store.reserve({ scopes: [money], input: 100, maxOutput: 100 }));
      const settled = granted(await store.reserve({ scopes: [money], input: 10, maxOutput: 10 }));
      await store.settle(settled, { input: 10, cachedInput: 0, output: 10 });
      expect(await store.spentAt!(money, [NOON])).toEqual([120]);
      expect(await used(money)).toBe(1200 + 120);
    });

    it('settles a dead call of a money scope at its input', async () => {
      const money = wallet('dead');
      granted(await store.reserve({ scopes: [money], input: 100, maxOutput: 10, leaseMs: 1000 }));
      clock.advance(1000);
      granted(await store.reserve({ scopes: [money], input: 1, maxOutput: 1, leaseMs: 1000 }));
      expect(await used(money)).toBe(200 + 12);
    });

    it('reports each crossing of a settled threshold to exactly one of many concurrent settlements', async () => {
      const money = wallet('crowd', 10_000_000);
      const reservations = await Promise.all(
        Array.from({ length: 100 }, async () => granted(await store.reserve({ scopes: [money], input: 5, maxOutput: 1 }))),
      );
      const reports = await Promise.all(reservations.map((r) => store.settle(r, { input: 5, cachedInput: 0, output: 1 })));
      const moves = reports.flatMap((report) => report.spent);
      expect(moves).toHaveLength(100);
      // 20 nano-USD each: the 505 threshold is crossed by exactly one settlement.
      expect(moves.filter((m) => m.before < 505 && m.after >= 505)).toHaveLength(1);
      expect(Math.max(...moves.map((m) => m.after))).toBe(2000);
    });

    it('refuses a token count for a reservation that holds money', async () => {
      const reservation = granted(await store.reserve({ scopes: [wallet('count')], input: 1, maxOutput: 1 }));
      await expect(store.settle(reservation, 5)).rejects.toThrow(RangeError);
      await store.release(reservation);
      expect(await used(wallet('count'))).toBe(0);
    });
  });
}
