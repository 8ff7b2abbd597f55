// The memory store's outage-fallback entry points (seed, counts) and its sweep timer, which forgets expired windows on its own.
import { globalScopeKey, userScopeKey } from '../../lib/store/keys';
import { memoryStore } from '../../lib/store/memory';
import { granted, perMinute, scope } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);
const DAY = 86_400_000;
const GRACE = 15 * 60_000;

describe('seed and counts', () => {
  let nowMs = NOON;
  const store = memoryStore({ now: () => nowMs });
  afterAll(() => store.close());

  it('starts a scope without a counter at what it is told was used, and only such a scope', async () => {
    const day = scope(userScopeKey('seeded', 'day'), 100);
    expect(store.counts(day)).toBe(false);
    store.seed(day, 30);
    expect(store.counts(day)).toBe(true);
    expect((await store.usage(day)).used).toBe(30);
    // A counter already there is the truth: a second seed changes nothing.
    store.seed(day, 70);
    expect((await store.usage(day)).used).toBe(30);
    granted(await store.reserve({ scopes: [day], input: 9, maxOutput: 1 }));
    expect((await store.usage(day)).used).toBe(40);
  });

  it('makes no counter for a seed of nothing used', () => {
    const day = scope(userScopeKey('seeded-zero', 'day'), 100);
    store.seed(day, 0);
    expect(store.counts(day)).toBe(false);
  });

  it("seeds a sliding window's current bucket, which counts for a whole window", async () => {
    const tpm = scope(globalScopeKey('seeded-tpm'), 100, perMinute, 'global');
    store.seed(tpm, 60);
    expect(store.counts(tpm)).toBe(true);
    nowMs = NOON + 59_999;
    expect((await store.usage(tpm)).used).toBe(60);
    // The next bucket has no counter of its own yet.
    expect(store.counts(tpm)).toBe(false);
    nowMs = NOON + 61_000;
    expect((await store.usage(tpm)).used).toBe(0);
  });

  it("seeds a period that ends to be forgotten with the period's grace, as a reservation would be", () => {
    const sweeper = memoryStore({ now: () => nowMs });
    nowMs = NOON;
    sweeper.seed(scope(userScopeKey('seeded-expiry', 'day'), 100), 5);
    nowMs = NOON + DAY / 2 + GRACE - 1;
    expect(sweeper.sweep()).toBe(0);
    nowMs = NOON + DAY / 2 + GRACE;
    expect(sweeper.sweep()).toBe(1);
    void sweeper.close();
  });
});

describe('the sweep timer', () => {
  afterEach(() => jest.useRealTimers());

  it('forgets expired windows every sweepIntervalMs, without a call to sweep()', async () => {
    jest.useFakeTimers({ now: NOON });
    let nowMs = NOON;
    const store = memoryStore({ now: () => nowMs, sweepIntervalMs: 500 });
    for (let i = 0; i < 3; i++) {
      granted(
        await store.reserve({ scopes: [scope(globalScopeKey(`swept${i}`), 100, perMinute, 'global')], input: 1, maxOutput: 1 }),
      );
    }
    expect(store.size).toBe(3);
    // A minute bucket expires a window and two buckets after it started.
    nowMs = NOON + 62_000;
    await jest.advanceTimersByTimeAsync(499);
    expect(store.size).toBe(3);
    await jest.advanceTimersByTimeAsync(1);
    expect(store.size).toBe(0);
    await store.close();
  });

  it('sweeps every 10 s by default', async () => {
    jest.useFakeTimers({ now: NOON });
    let nowMs = NOON;
    const store = memoryStore({ now: () => nowMs });
    granted(
      await store.reserve({ scopes: [scope(globalScopeKey('swept-default'), 100, perMinute, 'global')], input: 1, maxOutput: 1 }),
    );
    nowMs = NOON + 62_000;
    await jest.advanceTimersByTimeAsync(9_999);
    expect(store.size).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(store.size).toBe(0);
    await store.close();
  });

  it('forgets more than 10,000 expired windows in slices, each on its own turn of the event loop', async () => {
    jest.useFakeTimers({ now: NOON });
    let nowMs = NOON;
    const store = memoryStore({ now: () => nowMs, sweepIntervalMs: 1000 });
    for (let i = 0; i < 10_001; i++) store.seed(scope(globalScopeKey(`sliced${i}`), 100, perMinute, 'global'), 1);
    nowMs = NOON + 62_000;
    // The timer's sweep takes 10,000 keys; the one left goes in the next slice, not at the next tick of the timer.
    jest.advanceTimersByTime(1000);
    expect(store.size).toBe(1);
    jest.advanceTimersByTime(1);
    expect(store.size).toBe(0);
    await store.close();
  });

  it('stops its timer with close()', async () => {
    jest.useFakeTimers({ now: NOON });
    const store = memoryStore({ now: () => NOON, sweepIntervalMs: 1000 });
    await store.close();
    expect(jest.getTimerCount()).toBe(0);
  });
});
