// The admin view on its own: what a settled call adds to the rankings, and what the API reads back, on a memory store at a fixed clock.
import type { SettledCall } from '../../lib/context';
import { alertIncrement, callIncrements, principalOf, rankingKeys, rankingObserver } from '../../lib/admin/rankings';
import { alertsToday, flagList, hourlySpend, meterLimits, spendNow, topPrincipals, type ViewSources } from '../../lib/admin/view';
import { NO_CAP } from '../../lib/alerts/spend-scopes';
import { memoryStore } from '../../lib/store/memory';
import type { CostMeterConfig } from '../../lib/steps/costMeter';
import type { ScopeRequest } from '../../lib/store/types';
import type { FeatureFlags, SpendAlert } from '../../lib/types';
import type * as Rankings from '../../lib/admin/rankings';
import type * as View from '../../lib/admin/view';
import { loadAnew } from '../helpers/load-anew';

const HOUR_MS = 3_600_000;
/** 2026-12-05T18:30:00Z. */
const NOW = Date.UTC(2026, 11, 5, 18, 30);
/** gpt-4o's published price, nano-USD per 1M tokens. */
const GPT_4O = { input: 2_500_000_000, cachedInput: 1_250_000_000, output: 10_000_000_000 };

const scope = (kind: ScopeRequest['kind'], key: string, name?: string) => ({ kind, key, name }) as ScopeRequest;

/** A call of `feature` that used `input` and `output` tokens under `scopes`. */
const settled = (feature: string, input: number, output: number, scopes: ScopeRequest[] = []) =>
  ({ feature, model: 'gpt-4o', usage: { input, cachedInput: 0, output }, context: { scopes } }) as unknown as SettledCall;

const alert = (thresholdUsd: number): SpendAlert => ({
  kind: 'threshold',
  window: 'hour',
  thresholdUsd,
  spentUsd: thresholdUsd,
  at: new Date(NOW).toISOString(),
  windowStart: '2026-12-05T18:00:00.000Z',
  meter: 'spend',
});

describe('principalOf', () => {
  test.each([
    ['a user', scope('user', 'u:{u=alice}:day'), 'user:alice'],
    ['a hashed user, still hashed', scope('user', 'u:{h=x1Y2}:day'), 'user:h=x1Y2'],
    ['the anonymous user', scope('user', 'a:{anonymous}:day'), 'user:(anonymous)'],
    ['a named quota', scope('quota', 'q:{team:i=acme}:day', 'team'), 'team:acme'],
    ['a hashed id of a named quota', scope('quota', 'q:{team:h=x1Y2}:day', 'team'), 'team:h=x1Y2'],
    ['a named quota without a principal', scope('quota', 'q:{team}:day', 'team'), 'team:(anonymous)'],
    ['a key without a tag', scope('quota', 'q:team', 'team'), 'team:(anonymous)'],
  ])('%s', (_, request, principal) => {
    expect(principalOf(request)).toBe(principal);
  });

  test('a feature or the global limit is no principal', () => {
    expect(principalOf(scope('feature', 'f:{chat}'))).toBeUndefined();
    expect(principalOf(scope('global', 'g:{tpm}'))).toBeUndefined();
  });
});

describe('callIncrements', () => {
  test("a priced call: its tokens by feature and by principal today, its cost this hour and today, each ranking's lifetime", () => {
    const call = settled('chat', 100, 10, [scope('feature', 'f:{chat}'), scope('user', 'u:{u=alice}:day')]);
    const day = 2 * 24 * HOUR_MS;
    expect(callIncrements(call, GPT_4O, NOW)).toEqual([
      { key: rankingKeys.dayTokens('2026-12-05'), member: 'chat', amount: 110, ttlMs: day },
      { key: rankingKeys.hourSpend('2026-12-05T18'), member: 'chat', amount: 350_000, ttlMs: 26 * HOUR_MS },
      { key: rankingKeys.daySpend('2026-12-05'), member: 'chat', amount: 350_000, ttlMs: day },
      { key: rankingKeys.dayPrincipals('2026-12-05'), member: 'user:alice', amount: 110, ttlMs: day },
    ]);
  });

  test('an unpriced model adds tokens only; a call of no tokens adds nothing', () => {
    const alice = [scope('user', 'u:{u=alice}:day')];
    expect(callIncrements(settled('chat', 5, 0, alice), undefined, NOW).map(({ key }) => key)).toEqual([
      rankingKeys.dayTokens('2026-12-05'),
      rankingKeys.dayPrincipals('2026-12-05'),
    ]);
    expect(callIncrements(settled('chat', 0, 0, alice), GPT_4O, NOW)).toEqual([]);
  });

  test('the ranking keys share one hash tag: one Redis Cluster slot', () => {
    const keys = [
      rankingKeys.hourSpend('2026-12-05T18'),
      rankingKeys.daySpend('2026-12-05'),
      rankingKeys.dayTokens('2026-12-05'),
      rankingKeys.dayPrincipals('2026-12-05'),
      rankingKeys.dayAlerts('2026-12-05'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.every((key) => key.startsWith('adm:{tb-admin}:'))).toBe(true);
  });
});

describe('rankingObserver', () => {
  test('writes each settled call and each alert, and nothing for a call that never settled', () => {
    const writes: unknown[] = [];
    const observer = rankingObserver(
      { rank: async (increments) => void writes.push(increments) },
      (model) => (model === 'gpt-4o' ? GPT_4O : undefined),
      () => NOW,
    );
    observer.ended!({} as never, 5, undefined, false);
    observer.ended!({} as never, 5, settled('chat', 0, 0), false);
    expect(writes).toEqual([]);
    observer.ended!({} as never, 5, settled('chat', 100, 10), false);
    observer.alert!(alert(1));
    expect(writes).toEqual([callIncrements(settled('chat', 100, 10), GPT_4O, NOW), [alertIncrement(alert(1), NOW)]]);
  });
});

describe('what the API reads', () => {
  let clock = NOW;
  const store = memoryStore({ now: () => clock });
  const flagsSet: Record<string, boolean> = { chat: false, beta: true };
  const meter = (caps: CostMeterConfig['caps']) =>
    ({
      name: 'spend',
      per: 'feature',
      timeZone: 'Europe/Paris',
      thresholds: { hour: [500_000_000], day: [1_000_000_000, 2_500_000_000] },
      caps,
    }) as CostMeterConfig;
  const sources: ViewSources = {
    store,
    now: () => clock,
    features: ['chat', 'quick'],
    flags: { list: async () => flagsSet } as FeatureFlags,
    meters: () => [meter({ hour: 5_000_000_000, day: NO_CAP })],
  };

  beforeAll(async () => {
    const bob = [scope('user', 'u:{u=bob}:day')];
    // Two hours ago, then this hour; alerts at two instants of today.
    clock = NOW - 2 * HOUR_MS;
    await store.rank(callIncrements(settled('chat', 100, 10, bob), GPT_4O, clock));
    clock = NOW;
    await store.rank([
      ...callIncrements(settled('chat', 1000, 100, [scope('quota', 'q:{team:i=acme}:day', 'team')]), GPT_4O, NOW),
      ...callIncrements(settled('quick', 200, 0, bob), GPT_4O, NOW),
      alertIncrement(alert(1), NOW - 1000),
      alertIncrement(alert(2), NOW),
    ]);
  });
  afterAll(() => store.close?.());

  test('spend this hour and today by feature, most first, with the totals; tokens today by feature', async () => {
    // chat: 1,000 × $2.50 + 100 × $10 per 1M = $0.0035 this hour, + $0.00035 two hours ago; quick: 200 × $2.50 per 1M.
    expect(await spendNow(sources)).toEqual({
      hour: {
        window: '2026-12-05T18',
        totalUsd: 0.004,
        byFeature: [
          { feature: 'chat', usd: 0.0035 },
          { feature: 'quick', usd: 0.0005 },
        ],
      },
      day: {
        window: '2026-12-05',
        totalUsd: 0.00435,
        byFeature: [
          { feature: 'chat', usd: 0.00385 },
          { feature: 'quick', usd: 0.0005 },
        ],
      },
      tokensToday: [
        { feature: 'chat', tokens: 1210 },
        { feature: 'quick', tokens: 200 },
      ],
    });
  });

  test('24 hourly points up to this hour, each its spend', async () => {
    const { points } = await hourlySpend(sources);
    expect(points).toHaveLength(24);
    expect(points[0]!.hour).toBe('2026-12-04T19:00:00Z');
    expect(points.slice(21)).toEqual([
      { hour: '2026-12-05T16:00:00Z', usd: 0.00035 },
      { hour: '2026-12-05T17:00:00Z', usd: 0 },
      { hour: '2026-12-05T18:00:00Z', usd: 0.004 },
    ]);
  });

  test('the top principals of today across quotas, split at their first colon', async () => {
    expect(await topPrincipals(sources, 1)).toEqual({
      day: '2026-12-05',
      principals: [{ quota: 'team', id: 'acme', tokens: 1100 }],
    });
    expect((await topPrincipals(sources, 5)).principals).toEqual([
      { quota: 'team', id: 'acme', tokens: 1100 },
      { quota: 'user', id: 'bob', tokens: 310 },
    ]);
  });

  test("every feature's flag, on unless set, then flags set for names that are no feature", async () => {
    expect(await flagList(sources)).toEqual({
      flags: [
        { name: 'chat', on: false, set: true },
        { name: 'quick', on: true, set: false },
        { name: 'beta', on: true, set: true },
      ],
    });
  });

  test("today's alerts, newest first; tomorrow has none", async () => {
    expect(await alertsToday(sources)).toEqual({ alerts: [alert(2), alert(1)] });
    expect(await alertsToday({ ...sources, now: () => NOW + 24 * HOUR_MS })).toEqual({ alerts: [] });
  });

  test("the meters' thresholds and caps in USD, a missing cap null", () => {
    expect(meterLimits(sources)).toEqual({
      meters: [
        {
          name: 'spend',
          per: 'feature',
          timeZone: 'Europe/Paris',
          hourlyAlertUsd: [0.5],
          dailyAlertUsd: [1, 2.5],
          hourlyCapUsd: 5,
          dailyCapUsd: null,
        },
      ],
    });
    const noHourlyCap = { ...sources, meters: () => [meter({ hour: NO_CAP, day: 10_000_000_000 })] };
    expect(meterLimits(noHourlyCap).meters[0]).toMatchObject({ hourlyCapUsd: null, dailyCapUsd: 10 });
  });

  test('a store without rankings reads as nothing spent', async () => {
    const bare = { ...sources, store: {} };
    expect((await spendNow(bare)).day).toEqual({ window: '2026-12-05', totalUsd: 0, byFeature: [] });
    expect((await topPrincipals(bare, 5)).principals).toEqual([]);
    expect(await alertsToday(bare)).toEqual({ alerts: [] });
  });
});

test('the keys, lifetimes and reads of modules loaded in the test (their key makers, lifetimes and helpers are built as they load)', async () => {
  const { rankings, view } = loadAnew(() => ({
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    rankings: require('../../lib/admin/rankings') as typeof Rankings,
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    view: require('../../lib/admin/view') as typeof View,
  }));
  const call = settled('chat', 100, 10, [scope('user', 'u:{u=alice}:day')]);
  const twoDays = 48 * HOUR_MS;
  expect(rankings.callIncrements(call, GPT_4O, NOW)).toEqual([
    { key: 'adm:{tb-admin}:tokens:d:2026-12-05', member: 'chat', amount: 110, ttlMs: twoDays },
    { key: 'adm:{tb-admin}:spend:h:2026-12-05T18', member: 'chat', amount: 350_000, ttlMs: 26 * HOUR_MS },
    { key: 'adm:{tb-admin}:spend:d:2026-12-05', member: 'chat', amount: 350_000, ttlMs: twoDays },
    { key: 'adm:{tb-admin}:principals:d:2026-12-05', member: 'user:alice', amount: 110, ttlMs: twoDays },
  ]);
  expect(rankings.alertIncrement(alert(1), NOW)).toMatchObject({ key: 'adm:{tb-admin}:alerts:d:2026-12-05', ttlMs: twoDays });
  const store = memoryStore({ now: () => NOW });
  try {
    await store.rank(rankings.callIncrements(call, GPT_4O, NOW));
    const sources: ViewSources = {
      store,
      now: () => NOW,
      features: ['chat'],
      flags: { list: async () => ({}) } as FeatureFlags,
      meters: () =>
        [
          { name: 'spend', per: 'feature', thresholds: { hour: [], day: [] }, caps: { hour: 5_000_000_000, day: NO_CAP } },
        ] as unknown as CostMeterConfig[],
    };
    expect((await view.spendNow(sources)).hour).toEqual({
      window: '2026-12-05T18',
      totalUsd: 0.00035,
      byFeature: [{ feature: 'chat', usd: 0.00035 }],
    });
    expect(view.meterLimits(sources).meters[0]).toMatchObject({ hourlyCapUsd: 5, dailyCapUsd: null });
  } finally {
    await store.close?.();
  }
});
