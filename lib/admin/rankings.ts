// The admin view's rankings: what each settled call adds (spend and tokens by feature, tokens by principal, alerts), and their keys.
import type { SettledCall } from '../context';
import { callCostNanos } from '../pricing/cost';
import type { NanoPrice } from '../pricing/prices';
import type { BudgetEvents } from '../observers';
import type { RankIncrement, ScopeRequest, Store } from '../store/types';
import type { SpendAlert } from '../types';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** An hour's spend is read for a day back: kept 26 hours. A day's rankings are kept two days. */
const HOUR_TTL_MS = 26 * HOUR_MS;
const DAY_TTL_MS = 2 * DAY_MS;
/** One hash tag: a settled call's increments are one script on one Redis Cluster slot. */
const TAG = 'adm:{tb-admin}';

/** UTC hour and day names of an instant: `2026-12-05T18`, `2026-12-05`. */
export const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13);
export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export const rankingKeys = {
  hourSpend: (hour: string) => `${TAG}:spend:h:${hour}`,
  daySpend: (day: string) => `${TAG}:spend:d:${day}`,
  dayTokens: (day: string) => `${TAG}:tokens:d:${day}`,
  dayPrincipals: (day: string) => `${TAG}:principals:d:${day}`,
  dayAlerts: (day: string) => `${TAG}:alerts:d:${day}`,
};

/** A principal of a quota scope, `name:id`, read back from its key (`u:{u=alice}:day`, `q:{team:i=acme}:day`); hashed ids stay hashed. */
export function principalOf(scope: ScopeRequest): string | undefined {
  if (scope.kind !== 'user' && scope.kind !== 'quota') return undefined;
  const tagged = /\{([^}]*)\}/.exec(scope.key)?.[1];
  if (tagged === undefined || tagged === 'anonymous' || !tagged.includes('=')) return `${scope.name ?? scope.kind}:(anonymous)`;
  const id = tagged.slice(tagged.indexOf(':') + 1);
  return `${scope.name ?? scope.kind}:${id.startsWith('h=') ? id : id.slice(id.indexOf('=') + 1)}`;
}

/** What one settled call adds to the rankings, at `nowMs`; `price` undefined: tokens only (an unpriced model). */
export function callIncrements(call: SettledCall, price: NanoPrice | undefined, nowMs: number): RankIncrement[] {
  const day = dayOf(nowMs);
  const tokens = call.usage.input + call.usage.output;
  const increments: RankIncrement[] = [];
  if (tokens > 0) increments.push({ key: rankingKeys.dayTokens(day), member: call.feature, amount: tokens, ttlMs: DAY_TTL_MS });
  const cost = price ? callCostNanos(price, call.usage) : 0;
  if (cost > 0) {
    increments.push(
      { key: rankingKeys.hourSpend(hourOf(nowMs)), member: call.feature, amount: cost, ttlMs: HOUR_TTL_MS },
      { key: rankingKeys.daySpend(day), member: call.feature, amount: cost, ttlMs: DAY_TTL_MS },
    );
  }
  for (const scope of call.context.scopes) {
    const principal = principalOf(scope);
    if (principal && tokens > 0)
      increments.push({ key: rankingKeys.dayPrincipals(day), member: principal, amount: tokens, ttlMs: DAY_TTL_MS });
  }
  return increments;
}

/** An alert as a ranking member of its day, scored by when it fired: the newest read first. */
export function alertIncrement(alert: SpendAlert, atMs: number): RankIncrement {
  return { key: rankingKeys.dayAlerts(dayOf(atMs)), member: JSON.stringify(alert), amount: atMs, ttlMs: DAY_TTL_MS };
}

/**
 * Keeps the rankings as calls settle and alerts fire: one write per settled call, sent
 * after its settlement and never awaited by the request. A write that fails is lost
 * (the budgets themselves are counted by the settlement): the dashboard errs low then.
 */
export function rankingObserver(
  store: Required<Pick<Store, 'rank'>>,
  priceOf: (model: string) => NanoPrice | undefined,
  now: () => number,
): BudgetEvents {
  const write = (increments: RankIncrement[]) => {
    if (increments.length > 0) store.rank(increments).catch(() => {});
  };
  return {
    ended(_context, _durationMs, call) {
      if (call) write(callIncrements(call, priceOf(call.model), now()));
    },
    alert(alert) {
      write([alertIncrement(alert, now())]);
    },
  };
}
