// The worst-case arithmetic against figures worked out by hand: TPM binding, a cap binding, quotas × principals, unbounded, shared limits split.
import { readBudgetFile } from '../../lib/plan/file';
import { calendarPeriod, PLAN_WINDOWS, periodsTouched } from '../../lib/plan/periods';
import { OWN_LIMITS, planWorstCase, type PrincipalCounts } from '../../lib/plan/worst-case';

/** gpt-4o at $20 and gpt-4o-mini at $0.50 per 1M output tokens, whatever the published table says. */
const PRICES = { 'gpt-4o': { input: 5, output: 20 }, 'gpt-4o-mini': { input: 0.15, output: 0.5 } };

function plan(file: Record<string, unknown>, principals?: PrincipalCounts) {
  return planWorstCase(readBudgetFile({ prices: PRICES, ...file }), principals);
}

const chat = (extra: Record<string, unknown> = {}) => ({ maxInput: 4000, maxOutput: 1000, model: 'gpt-4o', ...extra });
const usd = (bounds: Record<string, { usd: number | null }>) => PLAN_WINDOWS.map(({ name }) => bounds[name]!.usd);
const bindings = (bounds: Record<string, { binding: string | null }>) => PLAN_WINDOWS.map(({ name }) => bounds[name]!.binding);

describe('one feature', () => {
  test('TPM binds the minute and the hour, the daily tokens the day and 30 days', () => {
    // 100,000 tokens a minute: 6M an hour ($120), 144M a day; 10M a day ($200), 300M in 30 days ($6,000).
    const result = plan({ features: { chat: chat({ dailyTokens: 10_000_000 }) }, globalTpm: { limit: 100_000 } });
    const [feature] = result.features;
    expect(usd(feature!.windows)).toEqual([2, 120, 200, 6000]);
    expect(bindings(feature!.windows)).toEqual([
      'globalTpm.limit',
      'globalTpm.limit',
      'features.chat.dailyTokens',
      'features.chat.dailyTokens',
    ]);
    expect(feature!.windows.hour.tokens).toBe(6_000_000);
    expect(usd(result.total)).toEqual([2, 120, 200, 6000]);
    expect(result.unbounded).toEqual([]);
  });

  test('a cap binds where it is below what the tokens cost', () => {
    // As above, with $50 an hour and $150 a day: the hour's $120 → $50, the day's $200 → $150, 30 days' $6,000 → $4,500.
    const result = plan({
      features: { chat: chat({ dailyTokens: 10_000_000 }) },
      globalTpm: { limit: 100_000 },
      costMeter: { hourlyCapUsd: 50, dailyCapUsd: 150 },
    });
    expect(usd(result.total)).toEqual([2, 50, 150, 4500]);
    expect(bindings(result.total)).toEqual([
      'globalTpm.limit',
      'costMeter.hourlyCapUsd',
      'costMeter.dailyCapUsd',
      'costMeter.dailyCapUsd',
    ]);
    expect(result.features[0]!.windows.day).toEqual({ usd: 150, tokens: 10_000_000, binding: 'costMeter.dailyCapUsd' });
  });

  test('no limit at all is unbounded, in plain words naming the options that would bound it', () => {
    const result = plan({ features: { chat: chat() }, quotas: { user: { limits: 10_000 } } });
    expect(usd(result.total)).toEqual([null, null, null, null]);
    expect(result.features[0]!.windows.day).toEqual({ usd: null, tokens: null, binding: null });
    expect(result.unbounded).toEqual([
      'features.chat is unbounded: nothing limits what it can spend. Bound it with features.chat.dailyTokens, globalTpm.limit or costMeter.dailyCapUsd, or say how many principals quota user can have (--users tier=N,… or --principals quota:tier=N,…).',
    ]);
  });

  test('a quota bounds by its limits × the principals of each tier, plus the shared anonymous budget', () => {
    // 100 free × 1,000 + 10 pro × 10,000 + one anonymous free budget of 1,000 = 201,000 tokens a day ($4.02).
    const quotas = { user: { limits: { free: 1000, pro: 10_000 }, anonymous: { tier: 'free' } } };
    const result = plan({ features: { chat: chat() }, quotas }, { user: { free: 100, pro: 10 } });
    expect(result.total.day).toEqual({ usd: 4.02, tokens: 201_000, binding: 'quotas.user.limits × 110 principals' });
    // A day's quota can all go in one minute; 30 UTC days hold 30 of its days.
    expect(usd(result.total)).toEqual([4.02, 4.02, 4.02, 120.6]);
  });

  test('a bare count of principals is every one at the largest tier', () => {
    const quotas = { user: { limits: { free: 1000, pro: 10_000 } } };
    const result = plan({ features: { chat: chat() }, quotas }, { user: 110 });
    expect(result.total.day).toEqual({ usd: 22, tokens: 1_100_000, binding: 'quotas.user.limits × 110 principals' });
  });

  test("principals of a tier the quota does not list get the default tier's limit, else its smallest", () => {
    const limits = { free: 1000, pro: 10_000 };
    const principals = { user: { enterprise: 2, free: 1 } };
    const day = (quota: Record<string, unknown>) =>
      plan({ features: { chat: chat() }, quotas: { user: quota } }, principals).total.day.tokens;
    expect(day({ limits, defaultTier: 'pro' })).toBe(2 * 10_000 + 1000);
    expect(day({ limits })).toBe(2 * 1000 + 1000);
  });

  test('a quota that rejects anonymous requests adds no anonymous budget', () => {
    const quotas = { user: { limits: 1000, anonymous: 'reject' } };
    expect(plan({ features: { chat: chat() }, quotas }, { user: 3 }).total.day.tokens).toBe(3000);
  });

  test('a free model costs nothing, limits or not: it is not unbounded', () => {
    const result = plan({
      prices: { ...PRICES, 'gpt-4.1-nano': { input: 0, output: 0 } },
      features: { free: chat({ model: 'gpt-4.1-nano' }) },
    });
    expect(result.features[0]!.windows.day).toEqual({ usd: 0, tokens: null, binding: null });
    expect(result.unbounded).toEqual([]);
  });

  test("at a tie the feature's own limit binds: before a shared token limit, before a cap", () => {
    // 144M tokens a day both ways; 1M tokens ($20) a day against a $20 cap.
    const tpmTie = plan({ features: { chat: chat({ dailyTokens: 144_000_000 }) }, globalTpm: { limit: 100_000 } });
    expect(tpmTie.features[0]!.windows.day.binding).toBe('features.chat.dailyTokens');
    const capTie = plan({ features: { chat: chat({ dailyTokens: 1_000_000 }) }, costMeter: { per: 'feature', dailyCapUsd: 20 } });
    expect(capTie.features[0]!.windows.day).toEqual({ usd: 20, tokens: 1_000_000, binding: 'features.chat.dailyTokens' });
  });

  test('unbounded without quotas: the sentence asks for one', () => {
    expect(plan({ features: { chat: chat() } }).unbounded).toEqual([
      'features.chat is unbounded: nothing limits what it can spend. Bound it with features.chat.dailyTokens, globalTpm.limit or costMeter.dailyCapUsd, or a quota with the number of principals it can have.',
    ]);
  });

  test('unbounded with several quotas uncounted: the sentence names each', () => {
    const quotas = { user: { limits: 1000 }, team: { limits: 5000 } };
    expect(plan({ features: { chat: chat() }, quotas }).unbounded[0]).toContain(
      'say how many principals quota user, team can have',
    );
  });

  test('a quota in another zone than UTC: a UTC day meets two of its days', () => {
    const quotas = { user: { limits: 1000, timeZone: 'Europe/Paris' } };
    const result = plan({ features: { chat: chat() }, quotas }, { user: { default: 1000 } });
    expect(result.total.day.tokens).toBe(2_000_000);
    expect(result.total.minute.tokens).toBe(1_000_000);
  });
});

describe('several features', () => {
  test('a shared limit goes to the most expensive tokens first', () => {
    // TPM 100,000: 144M a day. chat ($20/1M) may use 1M of it ($20), quick ($0.50/1M) the other 143M ($71.50).
    const result = plan({
      features: { chat: chat({ dailyTokens: 1_000_000 }), quick: { maxInput: 1000, maxOutput: 200, model: 'gpt-4o-mini' } },
      globalTpm: { limit: 100_000 },
    });
    expect(result.total.day).toEqual({ usd: 91.5, tokens: 144_000_000, binding: 'globalTpm.limit' });
    // A minute: all 100,000 tokens at chat's price.
    expect(result.total.minute.usd).toBe(2);
    expect(result.features.map((f) => f.windows.day.usd)).toEqual([20, 72]);
  });

  test('the most expensive tokens first, whatever order the features are written in', () => {
    const result = plan({
      features: { quick: { maxInput: 1000, maxOutput: 200, model: 'gpt-4o-mini' }, chat: chat({ dailyTokens: 1_000_000 }) },
      globalTpm: { limit: 100_000 },
    });
    expect(result.total.day).toEqual({ usd: 91.5, tokens: 144_000_000, binding: 'globalTpm.limit' });
  });

  test('a free feature takes none of a shared limit from the priced ones', () => {
    const result = plan({
      prices: { ...PRICES, 'gpt-4.1-nano': { input: 0, output: 0 } },
      features: { free: chat({ model: 'gpt-4.1-nano' }), chat: chat({ dailyTokens: 1_000_000 }) },
      globalTpm: { limit: 100_000 },
    });
    expect(result.total.day).toEqual({ usd: 20, tokens: 144_000_000, binding: OWN_LIMITS });
  });

  test("a global cap equal to the features' own limits: their own limits are named", () => {
    const result = plan({
      features: { chat: chat({ dailyTokens: 1_000_000 }), other: chat({ dailyTokens: 1_000_000 }) },
      costMeter: { dailyCapUsd: 40 },
    });
    expect(result.total.day).toEqual({ usd: 40, tokens: 2_000_000, binding: OWN_LIMITS });
  });

  test("with per: 'feature' each feature has its own cap and the total is their sum", () => {
    const result = plan({
      features: { chat: chat(), quick: { maxInput: 1000, maxOutput: 200, model: 'gpt-4o-mini' } },
      costMeter: { per: 'feature', dailyCapUsd: 10 },
    });
    expect(result.total.day).toEqual({ usd: 20, tokens: null, binding: OWN_LIMITS });
    expect(result.features.map((f) => f.windows.day.binding)).toEqual(['costMeter.dailyCapUsd', 'costMeter.dailyCapUsd']);
  });

  test("a global cap binds the total even where each feature's own limits would allow more", () => {
    const result = plan({
      features: { chat: chat({ dailyTokens: 1_000_000 }), other: chat({ dailyTokens: 1_000_000 }) },
      costMeter: { dailyCapUsd: 30 },
    });
    expect(result.features.map((f) => f.windows.day.usd)).toEqual([20, 20]);
    expect(result.total.day).toEqual({ usd: 30, tokens: 2_000_000, binding: 'costMeter.dailyCapUsd' });
  });
});

describe('periods a window can touch', () => {
  test.each([
    ['minute', 'hour', 'UTC', 1],
    ['hour', 'hour', 'UTC', 1],
    ['day', 'hour', 'UTC', 24],
    ['30 days', 'day', 'UTC', 30],
    // 1 day, four whole weeks, 1 day.
    ['30 days', 'week', 'UTC', 6],
    // 31 Jan, all of February, 1 Mar.
    ['30 days', 'month', 'UTC', 3],
    ['day', 'month', 'UTC', 1],
    // Asia/Kolkata is UTC+5:30: a UTC hour holds a local half-hour boundary.
    ['hour', 'hour', 'Asia/Kolkata', 2],
    ['minute', 'day', 'Europe/Paris', 1],
    ['day', 'day', 'Europe/Paris', 2],
  ] as const)('a %s meets at most the given number of %s periods in %s', (window, period, zone, expected) => {
    const planWindow = PLAN_WINDOWS.find((w) => w.name === window)!;
    expect(periodsTouched(planWindow, calendarPeriod(period, zone))).toBe(expected);
  });
});
