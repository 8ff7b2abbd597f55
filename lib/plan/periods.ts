// How many of a limit's periods one planning window can touch: a limit's worst case in a window is that many times its limit.
import type { QuotaPeriod } from '../types';

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

/** A limit's period: its shortest length, the UTC grid its boundaries fall on, and whether a zone's offset shifts them off it. */
export interface LimitPeriod {
  minMs: number;
  gridMs: number;
  shifted: boolean;
}

/** The global limit's sliding minute: any 60 s, so each UTC minute, stays within it. */
export const SLIDING_MINUTE: LimitPeriod = { minMs: MINUTE_MS, gridMs: MINUTE_MS, shifted: false };

const UTC_PERIODS: Record<QuotaPeriod, LimitPeriod> = {
  hour: { minMs: HOUR_MS, gridMs: HOUR_MS, shifted: false },
  day: { minMs: DAY_MS, gridMs: DAY_MS, shifted: false },
  week: { minMs: 7 * DAY_MS, gridMs: DAY_MS, shifted: false },
  month: { minMs: 28 * DAY_MS, gridMs: DAY_MS, shifted: false },
};

/** Every zone's offset is a whole number of quarter hours, so a shifted boundary still falls on a quarter hour. */
const ZONE_GRID_MS = 15 * MINUTE_MS;

/** A calendar period of a quota or meter in `timeZone`. */
export function calendarPeriod(period: QuotaPeriod, timeZone: string): LimitPeriod {
  return { ...UTC_PERIODS[period], shifted: timeZone !== 'UTC' };
}

/** The most periods a window meets when window starts and period boundaries both fall on `grid` (UTC ms). */
function touchedOnGrid(windowMs: number, periodMs: number, grid: number): number {
  // Boundaries inside the window lie in [grid, window − grid], at least a period apart.
  if (windowMs < 2 * grid) return 1;
  return Math.floor((windowMs - 2 * grid) / periodMs) + 2;
}

/**
 * The most periods of a limit one window can meet. A zone's offset shifts the boundaries
 * (an offset change for daylight saving moves them, without adding one to a UTC day), so
 * a window that can hold a quarter hour meets at most one period more than in UTC.
 */
export function periodsTouched(window: PlanWindow, period: LimitPeriod): number {
  const inUtc = touchedOnGrid(window.ms, period.minMs, Math.min(window.gridMs, period.gridMs));
  if (!period.shifted || touchedOnGrid(window.ms, period.minMs, Math.min(window.gridMs, ZONE_GRID_MS)) === 1) return inUtc;
  return inUtc + 1;
}
