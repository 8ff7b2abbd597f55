// The memory store's add (counts handed back after an outage): batches without an id, windows that end as they are added, spend of nothing.
import { globalScopeKey, userScopeKey } from '../../lib/store/keys';
import { memoryStore } from '../../lib/store/memory';
import { perMinute, scope } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);

describe('add', () => {
  let nowMs = NOON;
  const store = memoryStore({ now: () => nowMs });
  afterAll(() => store.close());

  it('adds a count given without a batch id each time it is given', async () => {
    const day = scope(userScopeKey('no-batch', 'day'), 1000);
    await store.add([{ scope: day, atMs: NOON, amount: 5 }]);
    await store.add([{ scope: day, atMs: NOON, amount: 5 }]);
    expect((await store.usage(day)).used).toBe(10);
  });

  it('skips a count whose window expires at the very instant it is added', async () => {
    const tpm = scope(globalScopeKey('ended-bucket'), 1000, perMinute, 'global');
    const before = store.size;
    // A minute bucket expires a window and two buckets after it started.
    nowMs = NOON + 62_000;
    await store.add([{ scope: tpm, atMs: NOON, amount: 5 }]);
    expect(store.size).toBe(before);
    nowMs = NOON + 61_999;
    await store.add([{ scope: tpm, atMs: NOON, amount: 5 }]);
    expect(store.size).toBe(before + 1);
    nowMs = NOON;
  });

  it('reports no spend move for a count that settled nothing, or of a scope that does not track spend', async () => {
    const tracked = { ...scope(userScopeKey('spent-nothing', 'day'), 1000), tracksSpend: true };
    const untracked = scope(userScopeKey('spent-untracked', 'day'), 1000);
    const report = await store.add([
      { scope: tracked, atMs: NOON, amount: 5, spent: 0 },
      { scope: untracked, atMs: NOON, amount: 5, spent: 5 },
    ]);
    expect(report.spent).toEqual([]);
    expect(await store.spentAt(untracked, [NOON])).toEqual([0]);
    expect((await store.add([{ scope: tracked, atMs: NOON, amount: 0, spent: 3 }])).spent).toEqual([
      { scope: tracked, before: 0, after: 3 },
    ]);
  });
});
