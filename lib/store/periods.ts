// The calendar period (hour, day, ISO week, month) of an IANA time zone that contains an instant.
import type { QuotaPeriod } from '../types';
import type { Period } from './types';

const SECOND_MS = 1_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** What is kept per zone: its formatter, and the last period of each kind handed out. */
interface ZoneState {
  readonly format: Intl.DateTimeFormat;
  readonly last: { [kind in QuotaPeriod]?: Period };
}

// Zone names come from configuration, but Intl also accepts any casing of them:
// the cache is dropped when it grows past what real configurations use.
const MAX_CACHED_ZONES = 1_000;
const zones = new Map<string, ZoneState>();

function zoneState(timeZone: string): ZoneState {
  let state = zones.get(timeZone);
  if (!state) {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'iso8601',
      numberingSystem: 'latn',
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (zones.size >= MAX_CACHED_ZONES) zones.clear();
    state = { format, last: {} };
    zones.set(timeZone, state);
  }
  return state;
}

/** Whether `timeZone` is a zone this runtime knows (IANA names, any casing, and `UTC`). */
export function validateTimeZone(timeZone: string): boolean {
  try {
    zoneState(timeZone);
    return true;
  } catch (error) {
    if (error instanceof RangeError) return false;
    throw error;
  }
}

/**
 * The calendar period of `timeZone` that contains `nowMs`, as `[startMs, endMs)`.
 *
 * - `day` starts at local midnight, or, where a DST change skips midnight, at the
 *   first instant of that local date; days of 23 and 25 hours are what they are.
 * - `week` is the ISO week, Monday to Monday, named by its ISO week-year (`2026-W01`
 *   may start in December 2025). `month` runs from the 1st to the 1st.
 * - `hour` is an hour of the local clock at one UTC offset: the hour repeated when
 *   clocks go back is two periods, told apart by the offset in the id
 *   (`2026-11-01T01-04:00`, `2026-11-01T01-05:00`); a half-hour change splits an hour.
 *
 * Throws a RangeError for a zone the runtime does not know (see `validateTimeZone`).
 * Called per request: the last period of each kind per zone is kept, so a call
 * inside it costs a map look-up.
 */
export function periodAt(nowMs: number, kind: QuotaPeriod, timeZone: string): Period {
  const zone = zoneState(timeZone);
  const last = zone.last[kind];
  if (last && last.startMs <= nowMs && nowMs < last.endMs) return last;
  const period = Object.freeze(computePeriod(nowMs, kind, zone.format));
  zone.last[kind] = period;
  return period;
}

function computePeriod(nowMs: number, kind: QuotaPeriod, format: Intl.DateTimeFormat): Period {
  const period = periodOfLocalDate(nowMs, kind, format);
  // Where clocks went back across midnight (America/Goose_Bay until 2010: 00:01 →
  // 23:01), the previous date's repeated hour comes after the new date has begun,
  // and belongs to it: periods never overlap and never go back.
  return period.endMs > nowMs ? period : periodOfLocalDate(period.endMs, kind, format);
}

/** The period named by the local date and hour of `nowMs`. */
function periodOfLocalDate(nowMs: number, kind: QuotaPeriod, format: Intl.DateTimeFormat): Period {
  const offsetAt = (ms: number) => offsetOf(format, ms);
  const offset = offsetAt(nowMs);
  const wall = nowMs + offset; // the local clock, written as if it were UTC
  const date = new Date(wall);
  const midnight = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  switch (kind) {
    case 'hour': {
      const hourWall = Math.floor(wall / HOUR_MS) * HOUR_MS;
      return {
        id: `${dayId(date)}T${pad(date.getUTCHours(), 2)}${offsetId(offset)}`,
        startMs: hourStart(hourWall - offset, nowMs, offsetAt),
        endMs: hourEnd(hourWall + HOUR_MS - offset, nowMs, offsetAt),
      };
    }
    case 'day':
      return {
        id: dayId(date),
        startMs: firstInstantOf(midnight, offsetAt),
        endMs: firstInstantOf(midnight + DAY_MS, offsetAt),
      };
    case 'week': {
      const monday = midnight - ((date.getUTCDay() + 6) % 7) * DAY_MS;
      return {
        id: isoWeekId(monday),
        startMs: firstInstantOf(monday, offsetAt),
        endMs: firstInstantOf(monday + 7 * DAY_MS, offsetAt),
      };
    }
    case 'month':
      return {
        id: `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}`,
        startMs: firstInstantOf(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1), offsetAt),
        endMs: firstInstantOf(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1), offsetAt),
      };
  }
}

type OffsetAt = (ms: number) => number;

/** Local clock minus UTC at `ms`, in ms. Intl reads whole seconds, as tz data is written. */
function offsetOf(format: Intl.DateTimeFormat, ms: number): number {
  const second = Math.floor(ms / SECOND_MS) * SECOND_MS;
  const field: Record<string, number> = {};
  for (const part of format.formatToParts(second)) field[part.type] = Number(part.value);
  const wall = Date.UTC(field.year!, field.month! - 1, field.day!, field.hour!, field.minute!, field.second!);
  return wall - second;
}

/**
 * The first instant at which the local clock reads `wall` (a local midnight), or,
 * when a DST change jumps over it, the instant of the jump. Assumes at most one
 * change of offset within a day of `wall`, as holds for every zone from 1970 to 2040.
 */
function firstInstantOf(wall: number, offsetAt: OffsetAt): number {
  const before = offsetAt(wall - DAY_MS);
  const after = offsetAt(wall + DAY_MS);
  // The larger offset reads `wall` earlier; when clocks go back over it, both do.
  const earlier = wall - Math.max(before, after);
  if (offsetAt(earlier) === wall - earlier) return earlier;
  const later = wall - Math.min(before, after);
  if (offsetAt(later) === wall - later) return later;
  return transitionIn(wall - after, wall - before, offsetAt);
}

/** Start of the hour holding `nowMs` at its offset: its `:00` (`candidate`), or the change to that offset. */
function hourStart(candidate: number, nowMs: number, offsetAt: OffsetAt): number {
  return offsetAt(candidate) === offsetAt(nowMs) ? candidate : transitionIn(candidate, nowMs, offsetAt);
}

/** End of the hour holding `nowMs` at its offset: the next `:00` (`candidate`), or an earlier change of offset. */
function hourEnd(candidate: number, nowMs: number, offsetAt: OffsetAt): number {
  return offsetAt(candidate - 1) === offsetAt(nowMs) ? candidate : transitionIn(nowMs, candidate - 1, offsetAt);
}

/**
 * The instant in `(fromMs, toMs]` at which the offset of `fromMs` changes to that of
 * `toMs`: a binary search over whole seconds, the resolution of time zone data.
 * Only the few periods that hold a DST change need it.
 */
function transitionIn(fromMs: number, toMs: number, offsetAt: OffsetAt): number {
  const newOffset = offsetAt(toMs);
  let oldSecond = Math.floor(fromMs / SECOND_MS);
  let newSecond = Math.floor(toMs / SECOND_MS);
  while (newSecond - oldSecond > 1) {
    const middle = Math.floor((oldSecond + newSecond) / 2);
    if (offsetAt(middle * SECOND_MS) === newOffset) newSecond = middle;
    else oldSecond = middle;
  }
  return newSecond * SECOND_MS;
}

const pad = (value: number, digits: number) => String(value).padStart(digits, '0');

const dayId = (date: Date) => `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}`;

/** `+05:30`, `-04:00`; seconds only for the odd historical offset that has them. */
function offsetId(offsetMs: number): string {
  const seconds = Math.abs(offsetMs) / SECOND_MS;
  const sign = offsetMs < 0 ? '-' : '+';
  const hhmm = `${sign}${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}`;
  return seconds % 60 === 0 ? hhmm : `${hhmm}:${pad(seconds % 60, 2)}`;
}

/** `2026-W48`: the week belongs to the year of its Thursday. */
function isoWeekId(mondayWall: number): string {
  const thursday = new Date(mondayWall + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${pad(year, 4)}-W${pad(week, 2)}`;
}
