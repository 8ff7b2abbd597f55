// Leases of different lengths on one scope of the memory store: each is taken back at its own expiry, whatever order they were given in.
import { userScopeKey } from '../../lib/store/keys';
import { memoryStore } from '../../lib/store/memory';
import { granted, scope } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);

test('a short lease given after a long one, and a medium one after both, are each settled at their input when they expire', async () => {
  let nowMs = NOON;
  const store = memoryStore({ now: () => nowMs });
  const day = scope(userScopeKey('lease-order', 'day'), 10_000);
  // Each holds 10 input + 90 output tokens; a lease taken back keeps the 10 of its input.
  const hold = async (leaseMs: number) => granted(await store.reserve({ scopes: [day], input: 10, maxOutput: 90, leaseMs }));
  /** What the scope holds as the next reservation sees it (a reservation is what takes expired leases back). */
  const seenByNext = async () => {
    const probe = granted(await store.reserve({ scopes: [day], input: 0, maxOutput: 1, leaseMs: 60_000 }));
    const used = (await store.usage(day)).used - 1;
    await store.release(probe);
    return used;
  };
  await hold(10_000);
  await hold(1_000);
  await hold(5_000);
  expect(await seenByNext()).toBe(300);
  nowMs = NOON + 999;
  expect(await seenByNext()).toBe(300);
  nowMs = NOON + 1_000;
  expect(await seenByNext()).toBe(210);
  nowMs = NOON + 4_999;
  expect(await seenByNext()).toBe(210);
  nowMs = NOON + 5_000;
  expect(await seenByNext()).toBe(120);
  nowMs = NOON + 10_000;
  expect(await seenByNext()).toBe(30);
  await store.close();
});
