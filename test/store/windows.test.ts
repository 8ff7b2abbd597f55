// Window arithmetic through the memory store: when a sliding refusal resets, what a scope state holds, which counts are refused.
import { globalScopeKey, quotaScopeKey } from '../../lib/store/keys';
import { memoryStore } from '../../lib/store/memory';
import { granted, perMinute, scope } from './contract';

const NOON = Date.UTC(2026, 10, 28, 12);

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
