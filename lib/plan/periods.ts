// How many of a limit's periods one planning window can touch: a limit's worst case in a window is that many times its limit.
import type { CalendarPeriod } from '../store/periods';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** The windows a plan reports: UTC-aligned, the last one 30 consecutive UTC days. */
export const PLAN_WINDOWS = [
  { name: 'minute', ms: MINUTE_MS, gridMs: MINUTE_MS },
  { name: 'hour', ms: HOUR_MS, gridMs: HOUR_MS },
  { name: 'day', ms: DAY_MS, gridMs: DAY_MS },
  { name: '30 days', ms: 30 * DAY_MS, gridMs: DAY_MS },
] as const;

export type PlanWindow = (typeof PLAN_WINDOWS)[number];
export type PlanWindowName = PlanWindow['name'];

/** A limit's period: its shortest length, and the grid its boundaries fall on (UTC ms). */
export interface LimitPeriod {
  minMs: number;
  gridMs: number;
}

/** The global limit's sliding minute: any 60 s, so each UTC minute, stays within it. */
export const SLIDING_MINUTE: LimitPeriod = { minMs: MINUTE_MS, gridMs: MINUTE_MS };

const UTC_PERIODS: Record<CalendarPeriod, LimitPeriod> = {
  hour: { minMs: HOUR_MS, gridMs: HOUR_MS },
  day: { minMs: DAY_MS, gridMs: DAY_MS },
  week: { minMs: 7 * DAY_MS, gridMs: DAY_MS },
  month: { minMs: 28 * DAY_MS, gridMs: DAY_MS },
};

/** Every zone's offset is a whole number of quarter hours. */
const ZONE_GRID_MS = 15 * MINUTE_MS;
/** A daylight-saving shift shortens a local day, week or month by up to an hour, and an hour by up to half of it (Lord Howe). */
const DST_SHIFT_MS = HOUR_MS;

/** A calendar period of a quota or meter in `timeZone`; outside UTC its boundaries fall on quarter hours and it may be shortened by DST. */
export function calendarPeriod(period: CalendarPeriod, timeZone: string): LimitPeriod {
  const utc = UTC_PERIODS[period];
  if (timeZone === 'UTC') return utc;
  const minMs = period === 'hour' ? HOUR_MS / 2 : utc.minMs - DST_SHIFT_MS;
  return { minMs, gridMs: ZONE_GRID_MS };
}

/**
 * The most periods a window can overlap. Window starts and period boundaries both fall on
 * the finer of the two grids `g`, so boundaries inside a window lie in [g, W − g], at least
 * a period apart.
 */
export function periodsTouched(window: PlanWindow, period: LimitPeriod): number {
  const grid = Math.min(window.gridMs, period.gridMs);
  if (window.ms < 2 * grid) return 1;
  return Math.floor((window.ms - 2 * grid) / period.minMs) + 2;
}
