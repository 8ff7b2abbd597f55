// Window arithmetic: the plans a scope's counters are read by, and through the memory store when a sliding refusal resets, what a scope state holds, which counts are refused.
import { globalScopeKey, quotaScopeKey } from '../../lib/store/keys';
import { memoryStore } from '../../lib/store/memory';
import { planWindow } from '../../lib/store/windows';
import { granted, perMinute, scope } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);

describe('a window plan', () => {
  const BUCKET = NOON / 1000;

  it("names a period's counter by scope key and period id, and a sliding window's by bucket, after the prefix", () => {
    const day = scope(quotaScopeKey('team', 'plan', 'day'), 100);
    expect(planWindow(day, NOON).keys).toEqual([`${day.key}:2026-11-28`]);
    expect(planWindow(day, NOON, 'tb:').keys).toEqual([`tb:${day.key}:2026-11-28`]);
    const tpm = scope(globalScopeKey('plan-keys'), 100, perMinute, 'global');
    const { keys } = planWindow(tpm, NOON + 500, 'tb:');
    // 60 whole buckets before the current one, and the current one.
    expect(keys).toHaveLength(61);
    expect([keys[0], keys[60]]).toEqual([`tb:${tpm.key}:${BUCKET - 60}`, `tb:${tpm.key}:${BUCKET}`]);
  });

  it('is handed out once per bucket: the same frozen plan from its first to its last millisecond, a new one after', () => {
    const tpm = scope(globalScopeKey('plan-reuse'), 100, perMinute, 'global');
    const plan = planWindow(tpm, NOON + 500);
    expect(Object.isFrozen(plan)).toBe(true);
    expect(planWindow(tpm, NOON)).toBe(plan);
    expect(planWindow(tpm, NOON + 999)).toBe(plan);
    const next = planWindow(tpm, NOON + 1000);
    expect(next.keys[60]).toBe(`${tpm.key}:${BUCKET + 1}`);
    // The new bucket's plan is the one kept from then on.
    expect(planWindow(tpm, NOON + 1999)).toBe(next);
  });

  it('keeps the current plan when a past one is asked for (a spend history read)', () => {
    const day = scope(quotaScopeKey('team', 'plan-past', 'day'), 100);
    const today = planWindow(day, NOON);
    expect(planWindow(day, NOON - 86_400_000).keys).toEqual([`${day.key}:2026-11-27`]);
    expect(planWindow(day, NOON)).toBe(today);
  });

  it("keeps the plan of the latest prefix asked for, even an older period's, and never hands out another prefix's", () => {
    const day = scope(quotaScopeKey('team', 'plan-prefix', 'day'), 100);
    planWindow(day, NOON);
    const yesterday = planWindow(day, NOON - 86_400_000, 'a:');
    expect(yesterday.keys).toEqual([`a:${day.key}:2026-11-27`]);
    expect(planWindow(day, NOON - 86_400_000, 'a:')).toBe(yesterday);
    expect(planWindow(day, NOON - 86_400_000).keys).toEqual([`${day.key}:2026-11-27`]);
  });
});

describe('a sliding window refusal', () => {
  let nowMs = NOON;
  const store = memoryStore({ now: () => nowMs });
  const tpm = scope(globalScopeKey('resets'), 100, perMinute, 'global');
  const resetOf = async (input: number) => {
    const result = await store.reserve({ scopes: [tpm], input, maxOutput: 1 });
    if (result.ok) throw new Error('expected a refusal');
    return result.refused.resetAtMs;
  };

  beforeAll(async () => {
    granted(await store.reserve({ scopes: [tpm], input: 59, maxOutput: 1 }));
    nowMs = NOON + 5000;
    granted(await store.reserve({ scopes: [tpm], input: 29, maxOutput: 1 }));
    nowMs = NOON + 10_000;
  });
  afterAll(() => store.close());

  it('resets when the oldest bucket that frees enough leaves the window, that bucket included', async () => {
    // 90 used: 70 more tokens need exactly the 60 of 12:00:00, which leave at 12:01:01.
    expect(await resetOf(69)).toBe(NOON + 61_000);
    // 61 more need the 30 of 12:00:05 too.
    expect(await resetOf(70)).toBe(NOON + 66_000);
  });

  it('resets when the newest bucket leaves, for a call larger than the window ever frees', async () => {
    // 201 tokens would need 191 freed out of the 90 counted.
    expect(await resetOf(200)).toBe(NOON + 71_000);
  });

  it('gives the other scopes of the request the instant their oldest counted bucket leaves', async () => {
    const wide = scope(globalScopeKey('resets-wide'), 1000, perMinute, 'global');
    nowMs = NOON;
    granted(await store.reserve({ scopes: [wide], input: 59, maxOutput: 1 }));
    nowMs = NOON + 10_000;
    const result = await store.reserve({ scopes: [tpm, wide], input: 69, maxOutput: 1 });
    if (result.ok) throw new Error('expected a refusal');
    // The refused scope needs 60 tokens of the 12:00:00 bucket; the other frees any at the same instant.
    expect(result.scopes.map((state) => state.resetAtMs)).toEqual([NOON + 61_000, NOON + 61_000]);
    // 71 tokens need 12:00:05 too: only the refused scope waits for it.
    const larger = await store.reserve({ scopes: [wide, tpm], input: 70, maxOutput: 1 });
    if (larger.ok) throw new Error('expected a refusal');
    expect(larger.scopes.map((state) => state.resetAtMs)).toEqual([NOON + 61_000, NOON + 66_000]);
  });
});

describe('an empty sliding window', () => {
  it('refuses a call larger than its limit as reset now: nothing it counts will ever free enough', async () => {
    const nowMs = NOON + 2500;
    const store = memoryStore({ now: () => nowMs });
    const result = await store.reserve({
      scopes: [scope(globalScopeKey('empty'), 10, perMinute, 'global')],
      input: 20,
      maxOutput: 1,
    });
    if (result.ok) throw new Error('expected a refusal');
    expect(result.refused).toMatchObject({ used: 0, remaining: 10, resetAtMs: nowMs });
    await store.close();
  });
});

describe('a scope state', () => {
  it('carries the name of a named scope, and no name field for an unnamed one', async () => {
    const store = memoryStore({ now: () => NOON });
    const team = { ...scope(quotaScopeKey('team', 'acme', 'day'), 100), kind: 'quota' as const, name: 'team' };
    const anonymous = scope(globalScopeKey('unnamed'), 100, perMinute, 'global');
    expect(await store.usage(team)).toStrictEqual({
      kind: 'quota',
      name: 'team',
      key: team.key,
      limit: 100,
      used: 0,
      remaining: 100,
      resetAtMs: NOON + 12 * 3_600_000,
    });
    expect(Object.keys(await store.usage(anonymous))).toEqual(['kind', 'key', 'limit', 'used', 'remaining', 'resetAtMs']);
    await store.close();
  });
});

describe('counts', () => {
  it('are whole non-negative numbers of tokens: the store refuses any other', async () => {
    const store = memoryStore({ now: () => NOON });
    const user = scope('u:{u=counts}:day', 1000);
    for (const input of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1])
      await expect(store.reserve({ scopes: [user], input, maxOutput: 1 })).rejects.toThrow(
        `input must be a non-negative integer number of tokens, got ${input}`,
      );
    await expect(store.reserve({ scopes: [user], input: 1, maxOutput: -1 })).rejects.toThrow(/^maxOutput must be/);
    const reservation = granted(await store.reserve({ scopes: [user], input: 0, maxOutput: 1 }));
    await expect(store.settle(reservation, 2.5)).rejects.toThrow(/^the settled amount must be/);
    expect(() => store.seed(user, -1)).toThrow(RangeError);
    await store.close();
  });
});
