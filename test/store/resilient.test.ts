// resilientStore over a primary that goes down and comes back: each scope's outage policy, the cool-down, the hand-back.
import { memoryStore, StoreUnavailableError } from '../../lib';
import { globalScopeKey, userScopeKey } from '../../lib/store/keys';
import { resilientStore } from '../../lib/store/resilient';
import type { ReserveRequest, ScopeRequest, Store, UnavailablePolicy } from '../../lib/store/types';
import { granted, perMinute, scope } from './contract';
import { switchableStore, type SwitchableStore } from '../helpers/options';

const reserve = (tokens: number, ...scopes: ScopeRequest[]): ReserveRequest => ({ scopes, input: tokens - 1, maxOutput: 1 });
const policy = (request: ScopeRequest, onUnavailable: UnavailablePolicy): ScopeRequest => ({ ...request, onUnavailable });
const user = (id: string, onUnavailable: UnavailablePolicy, limit = 100) =>
  policy(scope(userScopeKey(id, 'day'), limit), onUnavailable);
const global = (onUnavailable: UnavailablePolicy, limit = 100) =>
  policy(scope(globalScopeKey('tpm'), limit, perMinute, 'global'), onUnavailable);

interface Setup {
  primary: SwitchableStore;
  store: Store;
  errors: Error[];
}

function setup(cooldownMs = 0): Setup {
  const primary = switchableStore();
  const errors: Error[] = [];
  const store = resilientStore(primary, { cooldownMs, onError: (err) => errors.push(err) });
  return { primary, store, errors };
}

afterEach(() => jest.restoreAllMocks());

describe('while the primary is down', () => {
  test("'fail-closed': the reservation throws StoreUnavailableError, nothing is counted anywhere", async () => {
    const { primary, store } = setup();
    primary.down = true;
    await expect(store.reserve(reserve(10, user('a', 'fail-open'), global('fail-closed')))).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    primary.down = false;
    expect((await store.usage(user('a', 'fail-open'))).used).toBe(0);
  });

  test("'fail-open': granted, uncounted, reported whole", async () => {
    const { primary, store } = setup();
    primary.down = true;
    const result = await store.reserve(reserve(10, global('fail-open', 30)));
    const reservation = granted(result);
    expect(result.scopes).toEqual([expect.objectContaining({ used: 0, remaining: 30, limit: 30, kind: 'global' })]);
    expect(reservation.parts).toEqual([]);
    expect((await store.usage(global('fail-open', 30))).used).toBe(0);
    for (let i = 0; i < 5; i++) granted(await store.reserve(reserve(10, global('fail-open', 30))));
  });

  test("'fail-open': reads as untouched, named as it is, reset now on the primary's clock", async () => {
    const now = Date.UTC(2026, 10, 28, 12);
    const primary = Object.assign(switchableStore(), { now: () => now });
    const store = resilientStore(primary, { cooldownMs: 0, onError: () => {} });
    const team = { ...user('acme', 'fail-open', 30), kind: 'quota' as const, name: 'team' };
    primary.down = true;
    const result = await store.reserve(reserve(10, team, global('fail-open', 50)));
    expect(result.scopes).toStrictEqual([
      { kind: 'quota', name: 'team', key: team.key, limit: 30, used: 0, remaining: 30, resetAtMs: now },
      { kind: 'global', key: global('fail-open').key, limit: 50, used: 0, remaining: 50, resetAtMs: now },
    ]);
    expect(await store.usage(team)).toStrictEqual(result.scopes[0]);
    await store.close!();
  });

  test("'fallback': counted in memory with the same limit, from what the primary last said", async () => {
    const { primary, store } = setup();
    granted(await store.reserve(reserve(60, user('a', 'fallback'))));
    primary.down = true;
    const first = await store.reserve(reserve(30, user('a', 'fallback')));
    expect(first.scopes[0]).toMatchObject({ used: 90, remaining: 10 });
    const refused = await store.reserve(reserve(30, user('a', 'fallback')));
    expect(refused.ok).toBe(false);
    expect((await store.usage(user('a', 'fallback'))).used).toBe(90);
  });

  test("'fallback' refuses a quota period this process never saw the primary count: never a fresh quota", async () => {
    const { primary, store } = setup();
    primary.down = true;
    await expect(store.reserve(reserve(10, user('new', 'fallback')))).rejects.toThrow(/has not seen scope/);
  });

  test("'fallback' counts a sliding window from zero when its last word is old or missing", async () => {
    const { primary, store } = setup();
    primary.down = true;
    expect((await store.reserve(reserve(10, global('fallback')))).scopes[0]).toMatchObject({ used: 10 });
  });

  test("'fallback' trusts a sliding window's word no longer than its window, even within viewMaxAgeMs", async () => {
    const clock = { now: Date.now() };
    const primary = Object.assign(switchableStore(), { now: () => clock.now });
    const store = resilientStore(primary, { cooldownMs: 0, viewMaxAgeMs: 10 * 60_000, onError: () => {} });
    granted(await store.reserve(reserve(80, global('fallback'))));
    clock.now += 60_000;
    primary.down = true;
    // The 80 the primary counted have left the minute: the whole limit can be spent again.
    expect(granted(await store.reserve(reserve(100, global('fallback')))).outputCap).toBe(1);
    await store.close!();
  });

  test('a settle moves the word the fallback starts from: what it gave back can be spent', async () => {
    const { primary, store } = setup();
    const reservation = granted(await store.reserve(reserve(60, user('a', 'fallback'))));
    await store.settle(reservation, 10);
    primary.down = true;
    // The primary said 60 when it granted; the settle made it 10: 90 are left, not 40.
    granted(await store.reserve(reserve(90, user('a', 'fallback'))));
    expect((await store.reserve(reserve(1, user('a', 'fallback')))).ok).toBe(false);
  });

  test('a reservation counted wholly in the fallback settles there alone: the primary is not asked', async () => {
    const { primary, store, errors } = setup();
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    primary.down = true;
    const during = granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    const settles = jest.spyOn(primary, 'settle');
    await store.settle(during, 20);
    expect(settles).not.toHaveBeenCalled();
    // The outage, told once: no failed settle.
    expect(errors).toHaveLength(1);
  });

  test('scopes of one request keep their own policies: fallback counted, fail-open not', async () => {
    const { primary, store } = setup();
    granted(await store.reserve(reserve(50, user('a', 'fallback'), global('fail-open', 1000))));
    primary.down = true;
    const result = await store.reserve(reserve(10, user('a', 'fallback'), global('fail-open', 1000)));
    expect(result.scopes.map((s) => [s.kind, s.used])).toEqual([
      ['user', 60],
      ['global', 0],
    ]);
    expect(granted(result).parts.map((p) => p.scope.kind)).toEqual(['user']);
  });

  test('usage follows the policy: fail-closed throws, fail-open reads nothing used, fallback reads the fallback', async () => {
    const { primary, store } = setup();
    granted(await store.reserve(reserve(40, user('a', 'fallback'))));
    primary.down = true;
    granted(await store.reserve(reserve(5, user('a', 'fallback'))));
    await expect(store.usage(user('a', 'fail-closed'))).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await store.usage(user('a', 'fail-open'))).used).toBe(0);
    expect((await store.usage(user('a', 'fallback'))).used).toBe(45);
  });

  test("'fallback' usage of a quota period this process never saw is unavailable, never read as all left", async () => {
    const { primary, store } = setup();
    primary.down = true;
    await expect(store.usage(user('new', 'fallback'))).rejects.toThrow(/has not seen scope/);
    // A sliding window can start from its share, as a reservation does.
    expect((await store.usage(global('fallback'))).used).toBe(0);
  });
});

describe('a fleet of processes during an outage', () => {
  /** A primary shared with `processes` processes (its heartbeat says so), on a clock the test moves. */
  function fleetSetup(processes: number | 'never-answered', recoveryMs = 0) {
    const base = switchableStore();
    const clock = { now: Date.now() };
    const beats: string[] = [];
    const fleet = { alive: processes };
    const primary: SwitchableStore = Object.assign(base, {
      now: () => clock.now,
      heartbeat: async (id: string) => {
        beats.push(id);
        if (fleet.alive === 'never-answered') throw new StoreUnavailableError('down');
        return fleet.alive;
      },
    });
    const store = resilientStore(primary, { cooldownMs: 0, recoveryMs, onError: () => {} });
    return { primary, store, clock, beats, fleet };
  }
  const settleBeat = () => new Promise((resolve) => setImmediate(resolve));

  test('each process counts from its share of what was left: remaining / processes', async () => {
    const { primary, store, beats } = fleetSetup(3);
    await settleBeat();
    expect(beats).toHaveLength(1);
    granted(await store.reserve(reserve(40, user('a', 'fallback'))));
    primary.down = true;
    // 60 left, 3 processes: this one may use 20 of it.
    expect((await store.reserve(reserve(20, user('a', 'fallback')))).scopes[0]).toMatchObject({ used: 100, remaining: 0 });
    expect((await store.reserve(reserve(1, user('a', 'fallback')))).ok).toBe(false);
    await store.close!();
  });

  test('processes started together hear of each other within a second: the heartbeat is every 1 s by default', async () => {
    jest.useFakeTimers();
    try {
      const { primary, store, fleet } = fleetSetup(1);
      await jest.advanceTimersByTimeAsync(0);
      // The others beat for the first time after this one did.
      fleet.alive = 3;
      await jest.advanceTimersByTimeAsync(1000);
      granted(await store.reserve(reserve(40, user('a', 'fallback'))));
      primary.down = true;
      expect((await store.reserve(reserve(21, user('a', 'fallback')))).ok).toBe(false);
      granted(await store.reserve(reserve(20, user('a', 'fallback'))));
      await store.close!();
    } finally {
      jest.useRealTimers();
    }
  });

  test('a sliding window with no recent word starts from its share of the limit', async () => {
    const { primary, store } = fleetSetup(4);
    await settleBeat();
    primary.down = true;
    expect(granted(await store.reserve(reserve(25, global('fallback')))).outputCap).toBe(1);
    expect((await store.reserve(reserve(1, global('fallback')))).ok).toBe(false);
    await store.close!();
  });

  test("a sliding window's share is seeded once an outage, not again in each new bucket", async () => {
    const { primary, store, clock } = fleetSetup(4);
    await settleBeat();
    primary.down = true;
    granted(await store.reserve(reserve(10, global('fallback'))));
    clock.now += 1000;
    // 25 of 100 is this process's share: 15 are left in the next bucket, not a second seed's worth fewer.
    granted(await store.reserve(reserve(15, global('fallback'))));
    expect((await store.reserve(reserve(1, global('fallback')))).ok).toBe(false);
    await store.close!();
  });

  test('a word older than viewMaxAgeMs is not trusted: the quota period is refused', async () => {
    const { primary, store, clock } = fleetSetup(1);
    await settleBeat();
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    clock.now += 60_000;
    primary.down = true;
    await expect(store.reserve(reserve(10, user('a', 'fallback')))).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close!();
  });

  test('back on the primary, a process spends no more than its outage share until the others have had recoveryMs to hand back', async () => {
    const { primary, store } = fleetSetup(3, 60_000);
    await settleBeat();
    granted(await store.reserve(reserve(40, user('a', 'fallback'))));
    primary.down = true;
    granted(await store.reserve(reserve(15, user('a', 'fallback'))));
    primary.down = false;
    // The primary has this process's 15 (55 of 100) but not yet what the two others counted: 5 of the share are left.
    const overShare = await store.reserve(reserve(10, user('a', 'fallback')));
    expect(overShare.ok).toBe(false);
    // Reported as the outage counted it: the others' shares taken, this one's 15 used.
    expect(overShare.scopes[0]).toMatchObject({ used: 95, remaining: 5 });
    expect((await primary.usage(user('a', 'fallback'))).used).toBe(55);
    // Within the share: counted on the primary (where the others will add theirs); settled, it frees what it did not use.
    await store.settle(granted(await store.reserve(reserve(5, user('a', 'fallback')))), 1);
    granted(await store.reserve(reserve(4, user('a', 'fallback'))));
    expect((await store.reserve(reserve(1, user('a', 'fallback')))).ok).toBe(false);
    expect((await primary.usage(user('a', 'fallback'))).used).toBe(60);
    // Once recoveryMs has passed, the primary's word alone decides again.
    const later = Date.now() + 60_000;
    jest.spyOn(Date, 'now').mockReturnValue(later);
    expect(granted(await store.reserve(reserve(10, user('a', 'fallback')))).outputCap).toBe(1);
    expect((await primary.usage(user('a', 'fallback'))).used).toBe(70);
    await store.close!();
  });

  test('back on the primary, a scope the outage did not touch gets its share of what was left before the request, not after it', async () => {
    const { primary, store } = fleetSetup(2, 60_000);
    await settleBeat();
    granted(await store.reserve(reserve(40, user('a', 'fallback'))));
    primary.down = true;
    granted(await store.reserve(reserve(10, global('fallback'))));
    primary.down = false;
    // 60 were left, 30 of them this process's: 31 is over its share, and refused.
    expect((await store.reserve(reserve(31, user('a', 'fallback')))).ok).toBe(false);
    // 30 fit. Counted against what was left after its own grant (15 each), it was refused.
    expect(granted(await store.reserve(reserve(30, user('a', 'fallback')))).outputCap).toBe(1);
    expect((await primary.usage(user('a', 'fallback'))).used).toBe(70);
    // The share is spent while the recovery lasts.
    expect((await store.reserve(reserve(1, user('a', 'fallback')))).ok).toBe(false);
    await store.close!();
  });

  test('back on the primary, a scope this process first meets takes its share of the primary’s word before the request', async () => {
    const { primary, store } = fleetSetup(2, 60_000);
    await settleBeat();
    // Another process spent 40 of user a's quota; this one never read it.
    granted(await primary.reserve(reserve(40, user('a', 'fallback'))));
    primary.down = true;
    granted(await store.reserve(reserve(10, global('fallback'))));
    primary.down = false;
    expect((await store.reserve(reserve(31, user('a', 'fallback')))).ok).toBe(false);
    granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    expect((await primary.usage(user('a', 'fallback'))).used).toBe(70);
    await store.close!();
  });

  test('back on the primary, a fallback scope it did not count during the outage is held to its share too', async () => {
    const { primary, store } = fleetSetup(3, 60_000);
    await settleBeat();
    granted(await store.reserve(reserve(40, user('a', 'fallback'))));
    primary.down = true;
    await store.reserve(reserve(1, global('fail-open')));
    primary.down = false;
    // 60 were left, 20 of them this process's: the others may have spent theirs and not handed it back yet.
    expect((await store.reserve(reserve(25, user('a', 'fallback')))).ok).toBe(false);
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    await store.close!();
  });

  test("back on the primary, a 'fail-closed' or 'fail-open' scope is the primary's alone: nothing counted it elsewhere", async () => {
    const { primary, store } = fleetSetup(3, 60_000);
    await settleBeat();
    granted(await store.reserve(reserve(40, user('a', 'fail-closed'), user('b', 'fail-open'))));
    primary.down = true;
    await store.reserve(reserve(1, global('fail-open')));
    primary.down = false;
    granted(await store.reserve(reserve(50, user('a', 'fail-closed'), user('b', 'fail-open'))));
    await store.close!();
  });

  test('the recovery lasts 3 × cooldownMs unless recoveryMs says otherwise', async () => {
    let nowMs = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => nowMs);
    const primary = Object.assign(switchableStore(), { heartbeat: async () => 3 });
    const store = resilientStore(primary, { cooldownMs: 100, onError: () => {} });
    await settleBeat();
    granted(await store.reserve(reserve(40, user('a', 'fallback'))));
    primary.down = true;
    granted(await store.reserve(reserve(15, user('a', 'fallback'))));
    primary.down = false;
    nowMs += 100;
    // Back on the primary: 5 of this process's share are left, for 300 ms.
    expect((await store.reserve(reserve(10, user('a', 'fallback')))).ok).toBe(false);
    nowMs += 299;
    expect((await store.reserve(reserve(10, user('a', 'fallback')))).ok).toBe(false);
    nowMs += 1;
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    await store.close!();
  });

  test('a process that never heard how many share the store counts nothing in its fallback', async () => {
    const { primary, store } = fleetSetup('never-answered');
    await settleBeat();
    primary.down = true;
    await expect(store.reserve(reserve(10, global('fallback')))).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close!();
  });
});

describe('onError and the cool-down', () => {
  test('onError hears once per outage; the next outage is heard again', async () => {
    const { primary, store, errors } = setup();
    primary.down = true;
    for (let i = 0; i < 3; i++) await store.reserve(reserve(1, global('fail-open')));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
    primary.down = false;
    granted(await store.reserve(reserve(1, global('fail-open'))));
    primary.down = true;
    await store.reserve(reserve(1, global('fail-open')));
    expect(errors).toHaveLength(2);
  });

  test('the primary is left alone for cooldownMs after a failure, then one call probes it', async () => {
    let nowMs = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => nowMs);
    const { primary, store } = setup(1000);
    primary.down = true;
    await store.reserve(reserve(1, global('fail-open')));
    primary.down = false;
    const asked = primary.reserves.length;
    nowMs += 999;
    await store.reserve(reserve(1, global('fail-open')));
    expect(primary.reserves.length).toBe(asked);
    nowMs += 1;
    await store.reserve(reserve(1, global('fail-open')));
    expect(primary.reserves.length).toBe(asked + 1);
  });

  test('the cool-down is 1 s unless cooldownMs says otherwise', async () => {
    let nowMs = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => nowMs);
    const primary = switchableStore();
    const store = resilientStore(primary, { onError: () => {} });
    primary.down = true;
    await store.reserve(reserve(1, global('fail-open')));
    primary.down = false;
    const asked = primary.reserves.length;
    nowMs += 999;
    await store.reserve(reserve(1, global('fail-open')));
    expect(primary.reserves.length).toBe(asked);
    nowMs += 1;
    await store.reserve(reserve(1, global('fail-open')));
    expect(primary.reserves.length).toBe(asked + 1);
    await store.close!();
  });

  test('a settle that fails is told to onError and never thrown', async () => {
    const { primary, store, errors } = setup();
    const reservation = granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    primary.down = true;
    await expect(store.settle(reservation, 5)).resolves.toStrictEqual({ spent: [] });
    await expect(store.settle(reservation, 5)).resolves.toStrictEqual({ spent: [] });
    // Once for the outage, then each settle that failed.
    expect(errors).toHaveLength(3);
    expect(errors.every((err) => err instanceof StoreUnavailableError)).toBe(true);
  });

  test("a non-outage error of the primary is the caller's, not a policy's", async () => {
    const primary = switchableStore();
    const broken = new TypeError('a bug');
    const store = resilientStore({ ...primary, reserve: () => Promise.reject(broken) }, { onError: () => {} });
    await expect(store.reserve(reserve(1, global('fallback')))).rejects.toBe(broken);
  });

  test('a settle that fails with a bug of the primary is told to onError, not taken for an outage', async () => {
    const base = switchableStore();
    const bug = new TypeError('a bug');
    const primary: Store = { ...base, settle: () => Promise.reject(bug) };
    const errors: Error[] = [];
    const store = resilientStore(primary, { cooldownMs: 60_000, onError: (err) => errors.push(err) });
    await store.settle(granted(await store.reserve(reserve(10, user('a', 'fail-closed')))), 5);
    expect(errors).toEqual([bug]);
    // The primary still decides: a fail-closed scope is granted, not refused for an outage.
    granted(await store.reserve(reserve(10, user('a', 'fail-closed'))));
    await store.close!();
  });

  test('an onError that throws never fails the request', async () => {
    const primary = switchableStore();
    const store = resilientStore(primary, {
      cooldownMs: 0,
      onError: () => {
        throw new Error('a broken callback');
      },
    });
    primary.down = true;
    expect((await store.reserve(reserve(1, global('fail-open')))).ok).toBe(true);
  });

  test("a fail-closed refusal carries the primary's failure as its cause", async () => {
    const { primary, store } = setup();
    primary.down = true;
    const refusal = store.reserve(reserve(1, global('fail-closed')));
    await expect(refusal).rejects.toThrow('scope g:{tpm} fails closed');
    await expect(refusal).rejects.toMatchObject({
      cause: expect.objectContaining({ message: expect.stringContaining('down for the test') }),
    });
  });

  test('without onError, an outage is one console.warn', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const primary = switchableStore();
    const store = resilientStore(primary, { cooldownMs: 0 });
    primary.down = true;
    await store.reserve(reserve(1, global('fail-open')));
    await store.reserve(reserve(1, global('fail-open')));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/^token-budget: .*TB_STORE_UNAVAILABLE/);
  });
});

describe('when the primary is back', () => {
  test('what the fallback counted is added to the primary once, before the primary is used again', async () => {
    const { primary, store } = setup();
    granted(await store.reserve(reserve(20, user('a', 'fallback'))));
    primary.down = true;
    const during = granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    await store.settle(during, 25);
    primary.down = false;
    const after = await store.reserve(reserve(10, user('a', 'fallback')));
    expect(after.scopes[0]).toMatchObject({ used: 55 });
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    expect((await store.usage(user('a', 'fallback'))).used).toBe(65);
  });

  test('a reservation of the outage settled after the primary is back moves the primary, not twice', async () => {
    const { primary, store } = setup();
    granted(await store.reserve(reserve(20, user('a', 'fallback'))));
    primary.down = true;
    const during = granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    primary.down = false;
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    await store.settle(during, 5);
    expect((await store.usage(user('a', 'fallback'))).used).toBe(35);
  });

  test('a process with no more requests hands back what it counted by itself once the primary is back', async () => {
    const { primary, store } = setup(20);
    granted(await store.reserve(reserve(20, user('a', 'fallback'))));
    primary.down = true;
    granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    primary.down = false;
    const seen = async () => (await primary.usage(user('a', 'fallback'))).used;
    for (let i = 0; i < 100 && (await seen()) !== 50; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await seen()).toBe(50);
    await store.close!();
  });

  test("a primary that cannot add is written the settles it missed, never the fallback's counts", async () => {
    const base = switchableStore();
    const primary: Store = { ...base, add: undefined };
    const store = resilientStore(primary, { cooldownMs: 0, onError: () => {} });
    const first = granted(await store.reserve(reserve(40, user('a', 'fallback'))));
    base.down = true;
    await store.settle(first, 20);
    granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    base.down = false;
    // Nothing else waits to be written: the primary's word alone decides at once (20 used, not the fallback's 70).
    granted(await store.reserve(reserve(50, user('a', 'fallback'))));
    expect((await base.usage(user('a', 'fallback'))).used).toBe(70);
  });

  test('a hand-back the primary cannot take yet is kept and tried again', async () => {
    const base = switchableStore();
    let addFails = true;
    const primary: Store = {
      ...base,
      add: (counts, id) => (addFails ? Promise.reject(new StoreUnavailableError('add down')) : base.add!(counts, id)),
    };
    const store = resilientStore(primary, { cooldownMs: 0, onError: () => {} });
    granted(await store.reserve(reserve(20, user('a', 'fallback'))));
    base.down = true;
    granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    base.down = false;
    // The hand-back fails: this reservation is counted in the fallback, from what it knows (50).
    expect((await store.reserve(reserve(10, user('a', 'fallback')))).scopes[0]).toMatchObject({ used: 60 });
    addFails = false;
    expect((await store.reserve(reserve(10, user('a', 'fallback')))).scopes[0]).toMatchObject({ used: 70 });
  });
});

describe('a process gone quiet', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('hands back what it counted once cooldownMs has passed, then stops its timer', async () => {
    const { primary, store } = setup(1000);
    const timers = jest.getTimerCount();
    granted(await store.reserve(reserve(20, user('a', 'fallback'))));
    primary.down = true;
    granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    primary.down = false;
    await jest.advanceTimersByTimeAsync(1000);
    expect((await primary.usage(user('a', 'fallback'))).used).toBe(50);
    await jest.advanceTimersByTimeAsync(1000);
    expect(jest.getTimerCount()).toBe(timers);
    await store.close!();
  });

  test('does not take the primary for back on a probe that writes nothing', async () => {
    const { primary, store, errors } = setup(1000);
    primary.down = true;
    await store.reserve(reserve(1, global('fail-open')));
    await jest.advanceTimersByTimeAsync(3000);
    // Its first call since finds the primary still down: the same outage, not a new one.
    await store.reserve(reserve(1, global('fail-open')));
    expect(errors).toHaveLength(1);
    await store.close!();
  });

  test('hands back what it counted after a quiet cool-down, when calls failed a deadline apart', async () => {
    const base = switchableStore();
    const deadline = () =>
      new Promise<never>((_, reject) => setTimeout(() => reject(new StoreUnavailableError('deadline')), 500));
    const primary: Store = { ...base, reserve: (request) => (base.down ? deadline() : base.reserve(request)) };
    const store = resilientStore(primary, { cooldownMs: 1000, onError: () => {} });
    granted(await store.reserve(reserve(20, user('a', 'fallback'))));
    base.down = true;
    // Two calls in flight when the primary stops: they fail 250 ms apart, at 500 and 750.
    const inFlight = [store.reserve(reserve(1, global('fail-open')))];
    await jest.advanceTimersByTimeAsync(250);
    inFlight.push(store.reserve(reserve(1, global('fail-open'))));
    await jest.advanceTimersByTimeAsync(500);
    await Promise.all(inFlight);
    // The timer's first tick, at 1500, finds nothing to hand back; then the process counts in its fallback and goes quiet.
    await jest.advanceTimersByTimeAsync(850);
    granted(await store.reserve(reserve(30, user('a', 'fallback'))));
    base.down = false;
    await jest.advanceTimersByTimeAsync(1000);
    expect((await base.usage(user('a', 'fallback'))).used).toBe(50);
    await store.close!();
  });
});

describe('settlements the primary missed', () => {
  test('a settle that failed is written when the primary is back, before anything else, once', async () => {
    const { primary, store } = setup();
    const reservation = granted(await store.reserve(reserve(100, user('a', 'fail-closed', 1000))));
    primary.down = true;
    await store.settle(reservation, 40);
    primary.down = false;
    // The first call after the outage sees the settle: the 100 reserved became 40.
    expect((await store.reserve(reserve(10, user('a', 'fail-closed', 1000)))).scopes[0]).toMatchObject({ used: 50 });
    // A settle that landed although its reply was lost moves nothing when written again.
    await store.settle(reservation, 40);
    expect((await store.usage(user('a', 'fail-closed', 1000))).used).toBe(50);
  });

  test('a settle written after the outage moves the word the next outage starts from', async () => {
    const { primary, store } = setup();
    const reservation = granted(await store.reserve(reserve(100, user('a', 'fallback', 200))));
    primary.down = true;
    await store.settle(reservation, 40);
    primary.down = false;
    // Another scope's call writes the settle: the primary says nothing more of 'a'.
    await store.usage(user('b', 'fallback'));
    primary.down = true;
    granted(await store.reserve(reserve(160, user('a', 'fallback', 200))));
  });

  test('a settle the primary took while its reply was lost is not counted twice', async () => {
    const base = switchableStore();
    let loseReply = true;
    const primary: Store = {
      ...base,
      settle: async (reservation, actual) => {
        const report = await base.settle(reservation, actual);
        if (loseReply) throw new StoreUnavailableError('reply lost');
        return report;
      },
    };
    const store = resilientStore(primary, { cooldownMs: 0, onError: () => {} });
    const reservation = granted(await store.reserve(reserve(100, user('a', 'fail-closed', 1000))));
    await store.settle(reservation, 40);
    loseReply = false;
    expect((await store.reserve(reserve(10, user('a', 'fail-closed', 1000)))).scopes[0]).toMatchObject({ used: 50 });
  });

  test("spend the fallback settled reaches the primary's settled counter and onLateSpend, once", async () => {
    const { primary, store } = setup();
    const heard: number[][] = [];
    store.onLateSpend!((report) => heard.push(report.spent.flatMap((move) => [move.before, move.after])));
    const spend = { ...user('a', 'fallback', 1000), tracksSpend: true };
    const first = granted(await store.reserve(reserve(50, spend)));
    expect((await store.settle(first, 30)).spent.map((move) => [move.before, move.after])).toEqual([[0, 30]]);
    primary.down = true;
    const during = granted(await store.reserve(reserve(50, spend)));
    // The fallback's own settled counter starts at zero: its moves are not reported as the scope's spend.
    expect(await store.settle(during, 20)).toStrictEqual({ spent: [] });
    primary.down = false;
    granted(await store.reserve(reserve(1, spend)));
    expect(heard).toEqual([[30, 50]]);
    expect(await primary.spentAt!(spend, [Date.now()])).toEqual([50]);
  });

  test('a hand-back whose reply was lost is retried and its spend heard once, as the primary first moved it', async () => {
    const { primary, store } = setup();
    const add = primary.add!;
    let loseReply = true;
    primary.add = async (counts, batchId) => {
      const report = await add(counts, batchId);
      if (!loseReply) return report;
      loseReply = false;
      throw new StoreUnavailableError('reply lost');
    };
    const heard: number[][] = [];
    store.onLateSpend!((report) => heard.push(report.spent.flatMap((move) => [move.before, move.after])));
    const spend = { ...user('a', 'fallback', 1000), tracksSpend: true };
    granted(await store.reserve(reserve(10, spend)));
    primary.down = true;
    await store.settle(granted(await store.reserve(reserve(50, spend))), 20);
    primary.down = false;
    await store.usage(spend);
    await store.usage(spend);
    expect(heard).toEqual([[0, 20]]);
    expect(await primary.spentAt!(spend, [Date.now()])).toEqual([20]);
  });

  test('a settle retried after the outage is heard by onLateSpend with its spend', async () => {
    const { primary, store } = setup();
    const heard: number[][] = [];
    store.onLateSpend!((report) => heard.push(report.spent.flatMap((move) => [move.before, move.after])));
    const spend = { ...user('a', 'fail-closed', 1000), tracksSpend: true };
    const reservation = granted(await store.reserve(reserve(50, spend)));
    primary.down = true;
    await store.settle(reservation, 30);
    primary.down = false;
    await store.usage(spend);
    expect(heard).toEqual([[0, 30]]);
  });
});

describe('onLateSpend', () => {
  test('hears spend only: settles and hand-backs of tokens alone are not told', async () => {
    const { primary, store } = setup();
    const heard: unknown[] = [];
    store.onLateSpend!((report) => heard.push(report));
    const tokens = user('a', 'fallback', 1000);
    const reservation = granted(await store.reserve(reserve(50, tokens)));
    primary.down = true;
    await store.settle(reservation, 30);
    await store.settle(granted(await store.reserve(reserve(50, tokens))), 20);
    primary.down = false;
    await store.usage(tokens);
    expect((await primary.usage(tokens)).used).toBe(50);
    expect(heard).toEqual([]);
  });

  test('a listener that throws is told to onError; the others still hear', async () => {
    const { primary, store, errors } = setup();
    const broken = new Error('a broken listener');
    const heard: number[] = [];
    store.onLateSpend!(() => {
      throw broken;
    });
    store.onLateSpend!((report) => heard.push(report.spent.length));
    const spend = { ...user('a', 'fail-closed', 1000), tracksSpend: true };
    const reservation = granted(await store.reserve(reserve(50, spend)));
    primary.down = true;
    await store.settle(reservation, 30);
    primary.down = false;
    errors.length = 0;
    await store.usage(spend);
    expect(errors).toEqual([broken]);
    expect(heard).toEqual([1]);
  });
});

describe('its bounds', () => {
  test('past maxUnsettled, the oldest settlement waiting for the primary is dropped and told to onError', async () => {
    const primary = switchableStore();
    const errors: Error[] = [];
    const store = resilientStore(primary, { cooldownMs: 0, maxUnsettled: 1, onError: (err) => errors.push(err) });
    const limited = user('a', 'fail-closed', 1000);
    const [first, second] = [
      granted(await store.reserve(reserve(100, limited))),
      granted(await store.reserve(reserve(100, limited))),
    ];
    primary.down = true;
    await store.settle(first, 10);
    await store.settle(second, 20);
    const dropped = errors.find((err) => err.message.startsWith('More than 1 settlements'));
    expect(dropped?.message).toContain(`(lease ${first.leaseId}) is dropped`);
    primary.down = false;
    // The second settle is written; the first still holds its 100 until its lease runs out.
    expect((await store.usage(limited)).used).toBe(120);
  });

  test('past rememberScopes, the scope the primary spoke of longest ago is forgotten', async () => {
    const primary = switchableStore();
    const store = resilientStore(primary, { cooldownMs: 0, rememberScopes: 1, onError: () => {} });
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    granted(await store.reserve(reserve(10, user('b', 'fallback'))));
    primary.down = true;
    await expect(store.reserve(reserve(10, user('a', 'fallback')))).rejects.toThrow(/has not seen scope/);
    granted(await store.reserve(reserve(10, user('b', 'fallback'))));
  });

  test('a settle of a scope forgotten past rememberScopes lands on the primary, with no error', async () => {
    const primary = switchableStore();
    const errors: Error[] = [];
    const store = resilientStore(primary, { cooldownMs: 0, rememberScopes: 1, onError: (err) => errors.push(err) });
    const first = granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    granted(await store.reserve(reserve(10, user('b', 'fallback'))));
    await store.settle(first, 4);
    expect(errors).toEqual([]);
    expect((await primary.usage(user('a', 'fallback'))).used).toBe(4);
  });

  test('a process counts 15 s after its heartbeat, or three heartbeats when they are further apart', async () => {
    const ttls: number[] = [];
    for (const heartbeatMs of [undefined, 4000, 6000]) {
      const primary = { ...switchableStore(), heartbeat: async (_id: string, ttlMs: number) => ttls.push(ttlMs) };
      await resilientStore(primary, { heartbeatMs }).close!();
    }
    expect(ttls).toEqual([15_000, 15_000, 18_000]);
  });

  test('a quota period that ended since the primary last spoke of it is refused', async () => {
    const clock = { nowMs: Date.now() };
    const primary = Object.assign(switchableStore(), { now: () => clock.nowMs, heartbeat: async () => 1 });
    const store = resilientStore(primary, { cooldownMs: 0, onError: () => {} });
    // The primary's period ends at resetAtMs; its clock is put just before it.
    const { resetAtMs } = await store.usage(user('a', 'fallback'));
    clock.nowMs = resetAtMs - 2;
    await store.usage(user('a', 'fallback'));
    primary.down = true;
    clock.nowMs = resetAtMs - 1;
    granted(await store.reserve(reserve(10, user('a', 'fallback'))));
    clock.nowMs = resetAtMs;
    await expect(store.reserve(reserve(10, user('a', 'fallback')))).rejects.toThrow(/has not seen scope/);
    await store.close!();
  });
});

test('spentAt reads the primary, or the fallback while it is down', async () => {
  const { primary, store } = setup();
  const spend = { ...scope('s:{spend}:hour', 1_000_000), kind: 'spend' as const, onUnavailable: 'fallback' as const };
  primary.spentAt = () => (primary.down ? Promise.reject(new StoreUnavailableError('down')) : Promise.resolve([7]));
  expect(await store.spentAt!(spend, [Date.now()])).toEqual([7]);
  primary.down = true;
  expect(await store.spentAt!(spend, [Date.now()])).toEqual([0]);
});

test('close closes the primary and the fallback', async () => {
  const closed: string[] = [];
  const fallback = memoryStore();
  const primary = { ...switchableStore(), close: async () => void closed.push('primary') };
  const store = resilientStore(primary, {
    fallback: Object.assign(fallback, { close: async () => void closed.push('fallback') }),
  });
  await store.close!();
  expect(closed.sort()).toEqual(['fallback', 'primary']);
});
