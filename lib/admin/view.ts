// What the admin API reports: spend by hour and day, top principals, flags, alerts and meters, read from the rankings.
import { nanosToUsd } from '../alerts/money';
import { NO_CAP } from '../alerts/spend-scopes';
import type { CostMeterConfig } from '../steps/costMeter';
import type { FeatureFlags } from '../types';
import type { RankedMember, Store } from '../store/types';
import type { SpendAlert } from '../types';
import { dayOf, hourOf, rankingKeys } from './rankings';

const HOUR_MS = 3_600_000;
/** Features are configured, so a ranking of them is short; this bounds a read all the same. */
const MAX_FEATURES = 1000;
const MAX_ALERTS = 50;

/** Where the view reads: the store's rankings (absent on a custom store without them), flags, meters. */
export interface ViewSources {
  store: Pick<Store, 'rank' | 'ranked'>;
  now: () => number;
  features: readonly string[];
  flags: FeatureFlags;
  meters: () => CostMeterConfig[];
}

export interface FeatureSpend {
  feature: string;
  usd: number;
}

export interface WindowSpend {
  /** `2026-12-05T18` or `2026-12-05` (UTC). */
  window: string;
  totalUsd: number;
  byFeature: FeatureSpend[];
}

const ranked = (sources: ViewSources, key: string, limit: number): Promise<RankedMember[]> =>
  sources.store.ranked ? sources.store.ranked(key, limit) : Promise.resolve([]);

async function windowSpend(sources: ViewSources, window: string, key: string): Promise<WindowSpend> {
  const members = await ranked(sources, key, MAX_FEATURES);
  const byFeature = members.map(({ member, score }) => ({ feature: member, usd: nanosToUsd(score) }));
  return { window, totalUsd: nanosToUsd(members.reduce((sum, { score }) => sum + score, 0)), byFeature };
}

/** Spend this hour and today, by feature and in total; tokens today by feature. */
export async function spendNow(sources: ViewSources) {
  const nowMs = sources.now();
  const [hour, day, tokens] = await Promise.all([
    windowSpend(sources, hourOf(nowMs), rankingKeys.hourSpend(hourOf(nowMs))),
    windowSpend(sources, dayOf(nowMs), rankingKeys.daySpend(dayOf(nowMs))),
    ranked(sources, rankingKeys.dayTokens(dayOf(nowMs)), MAX_FEATURES),
  ]);
  return { hour, day, tokensToday: tokens.map(({ member, score }) => ({ feature: member, tokens: score })) };
}

/** The last 24 hours' spend, the current hour last. */
export async function hourlySpend(sources: ViewSources) {
  const nowMs = sources.now();
  const hours = Array.from({ length: 24 }, (_, i) => hourOf(nowMs - (23 - i) * HOUR_MS));
  const spends = await Promise.all(hours.map((hour) => windowSpend(sources, hour, rankingKeys.hourSpend(hour))));
  return { points: spends.map(({ window, totalUsd }) => ({ hour: `${window}:00:00Z`, usd: totalUsd })) };
}

/** The principals that used the most tokens today, across every quota (`limit` of them). */
export async function topPrincipals(sources: ViewSources, limit: number) {
  const day = dayOf(sources.now());
  const members = await ranked(sources, rankingKeys.dayPrincipals(day), limit);
  return {
    day,
    principals: members.map(({ member, score }) => {
      const colon = member.indexOf(':');
      return { quota: member.slice(0, colon), id: member.slice(colon + 1), tokens: score };
    }),
  };
}

/** Every feature's flag, and flags set for names that are no feature. */
export async function flagList(sources: ViewSources) {
  const set = await sources.flags.list();
  const names = [...new Set([...sources.features, ...Object.keys(set)])];
  return { flags: names.map((name) => ({ name, on: set[name] ?? true, set: name in set })) };
}

/** Alerts fired today (UTC), newest first. */
export async function alertsToday(sources: ViewSources) {
  const members = await ranked(sources, rankingKeys.dayAlerts(dayOf(sources.now())), MAX_ALERTS);
  return { alerts: members.map(({ member }) => JSON.parse(member) as SpendAlert) };
}

const usdOrNone = (nanos: number) => (nanos === NO_CAP ? null : nanosToUsd(nanos));

/** The cost meters' alert thresholds and caps, USD. */
export function meterLimits(sources: ViewSources) {
  return {
    meters: sources.meters().map((meter) => ({
      name: meter.name,
      per: meter.per,
      timeZone: meter.timeZone,
      hourlyAlertUsd: meter.thresholds.hour.map(nanosToUsd),
      dailyAlertUsd: meter.thresholds.day.map(nanosToUsd),
      hourlyCapUsd: usdOrNone(meter.caps.hour),
      dailyCapUsd: usdOrNone(meter.caps.day),
    })),
  };
}
