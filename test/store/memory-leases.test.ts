// The memory store's leases and retries: the default lease of 11 minutes, and how many taken leases, settles and hand-backs it remembers.
import { memoryStore } from '../../lib/store/memory';
import type * as Memory from '../../lib/store/memory';
import { userScopeKey } from '../../lib/store/keys';
import type { Reservation } from '../../lib/store/types';
import { loadAnew } from '../helpers/load-anew';
import { granted, scope } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);
const MINUTE = 60_000;

describe('a reservation without leaseMs', () => {
  it('holds its output tokens for 11 minutes (the openai SDK waits 10), then is settled at its input', async () => {
    let nowMs = NOON;
    // Loaded in the test: the default lease is a constant computed as its module loads.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const store = loadAnew(() => require('../../lib/store/memory') as typeof Memory).memoryStore({ now: () => nowMs });
    const user = scope(userScopeKey('default-lease', 'day'), 10_000);
    granted(await store.reserve({ scopes: [user], input: 100, maxOutput: 900 }));
    nowMs = NOON + 11 * MINUTE - 1;
    granted(await store.reserve({ scopes: [user], input: 0, maxOutput: 1 }));
    expect((await store.usage(user)).used).toBe(1000 + 1);
    nowMs = NOON + 11 * MINUTE;
    granted(await store.reserve({ scopes: [user], input: 0, maxOutput: 1 }));
    // The first call keeps its 100 prompt tokens; its 900 output tokens are given back.
    expect((await store.usage(user)).used).toBe(100 + 2);
    await store.close();
  });
});

describe('what the memory store remembers for late and retried calls', () => {
  // The bounds are 10,000 leases and settles, 1000 hand-backs: one more is made, and the oldest is forgotten alone.
  const REMEMBERED = 10_000;

  it('settles the newest 10,000 leases it took back by what their late call used, and ignores an older one', async () => {
    let nowMs = NOON;
    const store = memoryStore({ now: () => nowMs });
    const user = scope(userScopeKey('late-leases', 'day'), 1_000_000);
    const reservations: Reservation[] = [];
    for (let i = 0; i <= REMEMBERED; i++)
      reservations.push(granted(await store.reserve({ scopes: [user], input: 1, maxOutput: 9, leaseMs: 1 })));
    nowMs = NOON + 1;
    // Takes every lease back at its input: 1 token each.
    expect((await store.usage(user)).used).toBe((REMEMBERED + 1) * 10);
    granted(await store.reserve({ scopes: [user], input: 0, maxOutput: 1 }));
    expect((await store.usage(user)).used).toBe(REMEMBERED + 1 + 1);
    // The oldest is forgotten: its late settle is taken for a retry and moves nothing.
    await store.settle(reservations[0]!, 5);
    expect((await store.usage(user)).used).toBe(REMEMBERED + 2);
    // The next one is remembered: its call used 4 tokens more than the input it was settled at.
    await store.settle(reservations[1]!, 5);
    expect((await store.usage(user)).used).toBe(REMEMBERED + 2 + 4);
    await store.close();
  });

  it('reports again the spend moves of its newest 10,000 settles to their retries, and none of an older one', async () => {
    const store = memoryStore({ now: () => NOON });
    const user = { ...scope(userScopeKey('retried-settles', 'day'), 1_000_000), tracksSpend: true };
    const reservations: Reservation[] = [];
    for (let i = 0; i <= REMEMBERED; i++) {
      const reservation = granted(await store.reserve({ scopes: [user], input: 1, maxOutput: 1 }));
      await store.settle(reservation, 1);
      reservations.push(reservation);
    }
    expect((await store.settle(reservations[0]!, 1)).spent).toEqual([]);
    expect((await store.settle(reservations[1]!, 1)).spent).toEqual([{ scope: user, before: 1, after: 2 }]);
    await store.close();
  });

  it('adds a retried hand-back once while it is among the newest 1000, and again once it is not', async () => {
    const store = memoryStore({ now: () => NOON });
    const user = scope(userScopeKey('retried-batches', 'day'), 1_000_000);
    const handBack = (id: number) => store.add([{ scope: user, atMs: NOON, amount: 1 }], `batch ${id}`);
    for (let id = 0; id <= 1000; id++) await handBack(id);
    await handBack(1);
    expect((await store.usage(user)).used).toBe(1001);
    await handBack(0);
    expect((await store.usage(user)).used).toBe(1002);
    await store.close();
  });

  it('settles a reservation without a lease (leaseId empty) from its input, each time it is settled', async () => {
    const store = memoryStore({ now: () => NOON });
    const user = { ...scope(userScopeKey('no-lease', 'day'), 1000), tracksSpend: true };
    const reservation = granted(await store.reserve({ scopes: [user], input: 10, maxOutput: 90 }));
    // Counted without a lease, as a call that was taken back: 100 held, and its input is what it is settled from.
    const leaseless = { ...reservation, leaseId: '' };
    expect((await store.settle(leaseless, 30)).spent).toEqual([{ scope: user, before: 0, after: 30 }]);
    expect((await store.usage(user)).used).toBe(100 + 20);
    expect((await store.settle(leaseless, 30)).spent).toEqual([{ scope: user, before: 30, after: 60 }]);
    await store.close();
  });
});

describe('a reset of the memory store', () => {
  it('forgets the leases it held and took back, the settles and the hand-backs it remembered', async () => {
    let nowMs = NOON;
    const store = memoryStore({ now: () => nowMs });
    const user = { ...scope(userScopeKey('reset', 'day'), 1000), tracksSpend: true };
    const take = (leaseMs?: number) => store.reserve({ scopes: [user], input: 1, maxOutput: 9, leaseMs });
    granted(await take(1));
    const settled = granted(await take());
    await store.settle(settled, 4);
    const handBack = () => store.add([{ scope: user, atMs: NOON, amount: 3 }], 'batch');
    await handBack();
    store.reset();
    // The lease held before is not taken back from the counters made after.
    granted(await take());
    nowMs = NOON + 1;
    granted(await take());
    expect((await store.usage(user)).used).toBe(20);
    // A settle retried after the reset is not reported again.
    expect((await store.settle(settled, 4)).spent).toEqual([]);
    // A hand-back retried after the reset is added again.
    await handBack();
    expect((await store.usage(user)).used).toBe(23);
    // A lease taken back before the reset: its late settle moves nothing now.
    const taken = granted(await take(1));
    nowMs = NOON + 2;
    granted(await take());
    expect((await store.usage(user)).used).toBe(23 + 1 + 10);
    store.reset();
    granted(await take());
    await store.settle(taken, 5);
    expect((await store.usage(user)).used).toBe(10);
    await store.close();
  });
});
