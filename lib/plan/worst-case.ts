// The worst case of a budget file: the most its limits let each feature, and all together, spend per minute, hour, day and 30 days.
import { NANOS_PER_USD } from '../alerts/money';
import { priceOf, readPrices } from '../pricing/prices';
import type { BudgetFile, BudgetFileQuota } from '../types';
import {
  calendarPeriod,
  PLAN_WINDOWS,
  periodsTouched,
  SLIDING_MINUTE,
  type LimitPeriod,
  type PlanWindow,
  type PlanWindowName,
} from './periods';

/** Expected principals per quota name and tier, e.g. `{ user: { free: 1000, pro: 50 } }`; a bare count is all at the largest tier. */
export type PrincipalCounts = Record<string, Record<string, number> | number>;

/** The most one window allows. */
export interface WindowBound {
  /** Most spend in USD, every token priced as output; `null`: nothing bounds it. */
  usd: number | null;
  /** Most tokens; `null`: no token limit bounds them (only money, or nothing). */
  tokens: number | null;
  /** The option that binds (`features.chat.dailyTokens`, `globalTpm.limit`, …); `null` when unbounded. */
  binding: string | null;
}

export type WindowBounds = Record<PlanWindowName, WindowBound>;

export interface FeaturePlan {
  name: string;
  model: string;
  /** The output price the feature's tokens are costed at, USD per 1M tokens. */
  outputUsdPerMillion: number;
  windows: WindowBounds;
}

export interface Plan {
  features: FeaturePlan[];
  total: WindowBounds;
  /** One sentence per unbounded feature, naming the options that would bound it. */
  unbounded: string[];
}

/** A limit in tokens or USD per period, named by the option that sets it. */
interface Limit {
  option: string;
  amount: number;
  period: LimitPeriod;
}

interface Bound {
  amount: number;
  option: string | null;
}

const UNBOUNDED: Bound = { amount: Infinity, option: null };
const MICRO = 1_000_000;
/** What the total is bound by when each feature's own limits run out before any shared one. */
export const OWN_LIMITS = 'each feature its own limits';

/** The tightest of `limits` over `window`. */
function tightest(limits: Limit[], window: PlanWindow): Bound {
  let bound = UNBOUNDED;
  for (const limit of limits) {
    const amount = limit.amount * periodsTouched(window, limit.period);
    if (amount < bound.amount) bound = { amount, option: limit.option };
  }
  return bound;
}

/** The most a quota's principals can use per period; `undefined` without their count. */
function quotaTokens(quota: BudgetFileQuota, counts: PrincipalCounts[string] | undefined): number | undefined {
  if (counts === undefined) return undefined;
  const limits = typeof quota.limits === 'number' ? { default: quota.limits } : quota.limits;
  const defaultLimit = quota.defaultTier === undefined ? Math.min(...Object.values(limits)) : limits[quota.defaultTier]!;
  // As the app does, a tier the quota does not list gets the default tier's limit.
  let tokens =
    typeof counts === 'number'
      ? counts * Math.max(...Object.values(limits))
      : Object.entries(counts).reduce((sum, [tier, count]) => sum + count * (limits[tier] ?? defaultLimit), 0);
  // Every request without a principal shares one budget of the anonymous tier.
  if (quota.anonymous !== undefined && quota.anonymous !== 'reject') tokens += limits[quota.anonymous.tier]!;
  return tokens;
}

function sharedTokenLimits(file: BudgetFile, principals: PrincipalCounts): Limit[] {
  const limits: Limit[] = [];
  if (file.globalTpm) limits.push({ option: 'globalTpm.limit', amount: file.globalTpm.limit, period: SLIDING_MINUTE });
  for (const [name, quota] of Object.entries(file.quotas)) {
    const tokens = quotaTokens(quota, principals[name]);
    const period = calendarPeriod(quota.period ?? 'day', quota.timeZone ?? 'UTC');
    if (tokens === undefined) continue;
    const counts = principals[name]!;
    const count = typeof counts === 'number' ? counts : Object.values(counts).reduce((sum, n) => sum + n, 0);
    limits.push({ option: `quotas.${name}.limits × ${count.toLocaleString('en-US')} principals`, amount: tokens, period });
  }
  return limits;
}

function capLimits(file: BudgetFile): Limit[] {
  const meter = file.costMeter;
  if (!meter) return [];
  const zone = meter.timeZone ?? 'UTC';
  const caps: Limit[] = [];
  if (meter.hourlyCapUsd !== undefined)
    caps.push({ option: 'costMeter.hourlyCapUsd', amount: meter.hourlyCapUsd, period: calendarPeriod('hour', zone) });
  if (meter.dailyCapUsd !== undefined)
    caps.push({ option: 'costMeter.dailyCapUsd', amount: meter.dailyCapUsd, period: calendarPeriod('day', zone) });
  return caps;
}

/** To the micro-dollar: sums of prices carry binary noise (0.1 + 0.2), nothing a bill shows. */
export const toMicroUsd = (usd: number) => Math.round(usd * MICRO) / MICRO;

const usdOf = (tokens: number, usdPerMillion: number) => (tokens * usdPerMillion) / MICRO;

/** The smaller of a token bound priced at `usdPerMillion` and a money bound, in USD. */
function cheaper(tokens: Bound, usdPerMillion: number, money: Bound): Bound {
  const fromTokens = usdPerMillion === 0 ? 0 : usdOf(tokens.amount, usdPerMillion);
  return fromTokens <= money.amount ? { amount: fromTokens, option: tokens.option } : money;
}

const toWindowBound = (usd: Bound, tokens: number): WindowBound => ({
  usd: Number.isFinite(usd.amount) ? toMicroUsd(usd.amount) : null,
  tokens: Number.isFinite(tokens) ? tokens : null,
  binding: usd.option,
});

/**
 * The worst case of `file` (as `loadBudgetConfig` returns it) with `principals` of each
 * quota: every limit is assumed mounted on every feature's route, and every token costs
 * the output price of its feature's model, since the input/output split is unknown.
 */
export function planWorstCase(file: BudgetFile, principals: PrincipalCounts = {}): Plan {
  const prices = readPrices(file.prices, file.fallbackPrice);
  const shared = sharedTokenLimits(file, principals);
  const caps = capLimits(file);
  const perFeatureCaps = file.costMeter?.per === 'feature';
  const features = Object.entries(file.features).map(([name, feature]) => ({
    name,
    model: feature.model,
    usdPerMillion: priceOf(feature.model, prices).price.output / NANOS_PER_USD,
    own:
      feature.dailyTokens === undefined
        ? []
        : [{ option: `features.${name}.dailyTokens`, amount: feature.dailyTokens, period: calendarPeriod('day', 'UTC') }],
  }));
  const ownCaps = perFeatureCaps ? caps : [];
  const sharedCaps = perFeatureCaps ? [] : caps;

  const featureWindows = features.map(() => ({}) as WindowBounds);
  const total = {} as WindowBounds;
  for (const window of PLAN_WINDOWS) {
    const sharedTokens = tightest(shared, window);
    const sharedMoney = tightest(sharedCaps, window);
    // Alone, a feature meets every limit; together, the shared ones are split, most expensive tokens first.
    const own = features.map((feature, i) => {
      const ownTokens = tightest(feature.own, window);
      const ownMoney = tightest(ownCaps, window);
      const tokens = tightest([...feature.own, ...shared], window);
      featureWindows[i]![window.name] = toWindowBound(
        cheaper(tokens, feature.usdPerMillion, tightest(caps, window)),
        tokens.amount,
      );
      return { ...feature, tokens: ownTokens.amount, usd: cheaper(ownTokens, feature.usdPerMillion, ownMoney).amount };
    });
    let left = sharedTokens.amount;
    let usd = 0;
    for (const feature of [...own].sort((a, b) => b.usdPerMillion - a.usdPerMillion)) {
      if (feature.usdPerMillion === 0) continue;
      const tokens = Math.min((feature.usd / feature.usdPerMillion) * MICRO, left);
      usd += usdOf(tokens, feature.usdPerMillion);
      left -= Number.isFinite(tokens) ? tokens : left;
    }
    const ownTokens = own.reduce((sum, feature) => sum + feature.tokens, 0);
    let bound: Bound = { amount: usd, option: Number.isFinite(usd) ? (left > 0 ? OWN_LIMITS : sharedTokens.option) : null };
    if (sharedMoney.amount < usd) bound = sharedMoney;
    total[window.name] = toWindowBound(bound, Math.min(ownTokens, sharedTokens.amount));
  }
  return {
    features: features.map((feature, i) => ({
      name: feature.name,
      model: feature.model,
      outputUsdPerMillion: feature.usdPerMillion,
      windows: featureWindows[i]!,
    })),
    total,
    unbounded: features
      .filter((_, i) => featureWindows[i]!.day.usd === null)
      .map((feature) => unboundedSentence(feature.name, file, principals)),
  };
}

function unboundedSentence(name: string, file: BudgetFile, principals: PrincipalCounts): string {
  const uncounted = Object.keys(file.quotas).filter((quota) => principals[quota] === undefined);
  const quotaHint =
    uncounted.length > 0
      ? `, or say how many principals quota ${uncounted.join(', ')} can have (--users tier=N,… or --principals quota:tier=N,…)`
      : ', or a quota with the number of principals it can have';
  return `features.${name} is unbounded: nothing limits what it can spend. Bound it with features.${name}.dailyTokens, globalTpm.limit or costMeter.dailyCapUsd${quotaHint}.`;
}
