// The memory store reads a sliding window's past buckets once per bucket: every move of a past bucket is still seen at once.
import { memoryStore } from '../../lib/store/memory';
import type { Reservation, ReserveResult, ScopeRequest, SlidingWindow } from '../../lib/store/types';

const NOON = Date.UTC(2026, 10, 28, 12);
const perMinute: SlidingWindow = { kind: 'sliding', windowMs: 60_000, bucketMs: 1000 };
const tpm: ScopeRequest = { kind: 'global', key: 'g:{tpm}', limit: 10_000, onUnavailable: 'fail-closed', window: perMinute };

function granted(result: ReserveResult): Reservation {
  if (!result.ok) throw new Error('refused');
  return result.reservation;
}

describe('memory store: past buckets of a sliding window', () => {
  let nowMs = NOON;
  const store = memoryStore({ now: () => nowMs });
  const used = async () => (await store.usage(tpm)).used;
  const reserve = async (input: number, maxOutput: number, leaseMs?: number) =>
    granted(await store.reserve({ scopes: [tpm], input, maxOutput, leaseMs }));

  beforeEach(() => {
    store.reset();
    nowMs = NOON;
  });
  afterAll(() => store.close());

  it('sees a call reserved in an earlier bucket settle, by usage and by the next grant', async () => {
    const early = await reserve(100, 400); // 500 in the bucket of 12:00:00
    nowMs += 1500;
    await reserve(10, 10); // 20 in the bucket of 12:00:01: the past buckets are read now
    expect(await used()).toBe(520);
    await store.settle(early, 150);
    expect(await used()).toBe(170);
    const result = await store.reserve({ scopes: [tpm], input: 10, maxOutput: 10 });
    expect(result.scopes[0]!.used).toBe(190);
  });

  it('forgets the past buckets it read when reset', async () => {
    await reserve(100, 400);
    nowMs += 1000;
    expect(await used()).toBe(500);
    store.reset();
    expect(await used()).toBe(0);
  });

  it('sees a release of an earlier bucket', async () => {
    const early = await reserve(100, 400);
    nowMs += 2000;
    expect(await used()).toBe(500);
    await store.release(early);
    expect(await used()).toBe(0);
  });

  it('sees a dead call of an earlier bucket taken back at its input', async () => {
    await reserve(100, 400, 1000);
    nowMs += 1500;
    expect(await used()).toBe(500);
    nowMs += 1000; // the lease has run out: the next grant takes the call back
    await used(); // the past buckets are read in this bucket before the call is taken back
    await reserve(1, 1);
    expect(await used()).toBe(100 + 2);
  });

  it('sees counts handed back into an earlier bucket', async () => {
    await reserve(10, 10);
    nowMs += 3000;
    expect(await used()).toBe(20);
    await store.add([{ scope: tpm, atMs: NOON + 1000, amount: 300 }], 'batch-1');
    expect(await used()).toBe(320);
  });

  it('moves on with the buckets: the current one is read on every call', async () => {
    for (let second = 0; second < 70; second++) {
      nowMs = NOON + second * 1000 + 500;
      await reserve(5, 5);
      // 10 tokens a second, counted for 61 buckets.
      expect(await used()).toBe(10 * Math.min(second + 1, 61));
    }
  });
});
