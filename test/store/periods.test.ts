// Calendar periods in IANA zones: exact boundaries, DST days and hours, ISO weeks, month lengths, zone validation, the periods and zones kept.
import * as Periods from '../../lib/store/periods';
import type { QuotaPeriod } from '../../lib';
import { loadAnew } from '../helpers/load-anew';

const { periodAt, validateTimeZone } = Periods;

const HOUR = 3_600_000;
const utc = (iso: string) => Date.parse(iso);

/**
 * The period is `[start, end)` with `id`, exact to the millisecond on both sides:
 * its first and last milliseconds belong to it, the ones just outside do not.
 */
function expectPeriod(kind: QuotaPeriod, timeZone: string, id: string, startIso: string, endIso: string): void {
  const expected = { id, startMs: utc(startIso), endMs: utc(endIso) };
  expect(periodAt(expected.startMs, kind, timeZone)).toEqual(expected);
  expect(periodAt(expected.endMs - 1, kind, timeZone)).toEqual(expected);
  const before = periodAt(expected.startMs - 1, kind, timeZone);
  expect(before.endMs).toBe(expected.startMs);
  expect(before.id).not.toBe(id);
  const after = periodAt(expected.endMs, kind, timeZone);
  expect(after.startMs).toBe(expected.endMs);
  expect(after.id).not.toBe(id);
}

const hours = (kind: QuotaPeriod, timeZone: string, atIso: string) => {
  const { startMs, endMs } = periodAt(utc(atIso), kind, timeZone);
  return (endMs - startMs) / HOUR;
};

describe('days', () => {
  it('runs midnight to midnight in UTC', () => {
    expectPeriod('day', 'UTC', '2026-11-28', '2026-11-28T00:00:00Z', '2026-11-29T00:00:00Z');
  });

  it('runs local midnight to local midnight at a half- or three-quarter-hour offset', () => {
    expectPeriod('day', 'Asia/Kolkata', '2026-11-28', '2026-11-27T18:30:00Z', '2026-11-28T18:30:00Z'); // +05:30
    expectPeriod('day', 'Pacific/Chatham', '2026-11-28', '2026-11-27T10:15:00Z', '2026-11-28T10:15:00Z'); // +13:45 (DST)
  });

  it('has 23 hours when clocks go forward and 25 when they go back (America/New_York)', () => {
    expectPeriod('day', 'America/New_York', '2026-03-08', '2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z');
    expectPeriod('day', 'America/New_York', '2026-11-01', '2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z');
  });

  it('has 23 and 25 hours in Europe/London, whose clocks change at 01:00 UTC', () => {
    expectPeriod('day', 'Europe/London', '2026-03-29', '2026-03-29T00:00:00Z', '2026-03-29T23:00:00Z');
    expectPeriod('day', 'Europe/London', '2026-10-25', '2026-10-24T23:00:00Z', '2026-10-26T00:00:00Z');
  });

  it('starts at 01:00 when the clocks skip midnight (America/Santiago, 2026-09-06)', () => {
    expectPeriod('day', 'America/Santiago', '2026-09-05', '2026-09-05T04:00:00Z', '2026-09-06T04:00:00Z');
    expectPeriod('day', 'America/Santiago', '2026-09-06', '2026-09-06T04:00:00Z', '2026-09-07T03:00:00Z'); // 23 h
  });

  it('keeps the repeated hour in the day before when clocks go back at midnight (America/Santiago, 2026-04-04)', () => {
    expectPeriod('day', 'America/Santiago', '2026-04-04', '2026-04-04T03:00:00Z', '2026-04-05T04:00:00Z'); // 25 h
  });

  it('gives the hour repeated after a midnight to the new day when clocks went back at 00:01 (America/Goose_Bay, 2009)', () => {
    // 00:01 ADT became 23:01 AST: from 03:01Z the local clock read 2009-10-31 again, for the new day's first hour.
    const newDay = { id: '2009-11-01', startMs: utc('2009-11-01T03:00:00Z'), endMs: utc('2009-11-02T04:00:00Z') };
    expect(periodAt(utc('2009-11-01T03:30:00Z'), 'day', 'America/Goose_Bay')).toEqual(newDay);
    expect(periodAt(utc('2009-11-01T02:59:59.999Z'), 'day', 'America/Goose_Bay').endMs).toBe(newDay.startMs);
  });

  it('handles the historical midnight change of America/Sao_Paulo (2018-11-04)', () => {
    expectPeriod('day', 'America/Sao_Paulo', '2018-11-04', '2018-11-04T03:00:00Z', '2018-11-05T02:00:00Z');
  });

  it('has 23.5 and 24.5 hours with the half-hour DST of Australia/Lord_Howe', () => {
    expectPeriod('day', 'Australia/Lord_Howe', '2026-10-04', '2026-10-03T13:30:00Z', '2026-10-04T13:00:00Z');
    expectPeriod('day', 'Australia/Lord_Howe', '2026-04-05', '2026-04-04T13:00:00Z', '2026-04-05T13:30:00Z');
  });
});

describe('hours', () => {
  it('names an hour by its local date, hour and UTC offset', () => {
    expectPeriod('hour', 'UTC', '2026-11-28T13+00:00', '2026-11-28T13:00:00Z', '2026-11-28T14:00:00Z');
    expectPeriod('hour', 'Asia/Kolkata', '2026-11-28T13+05:30', '2026-11-28T07:30:00Z', '2026-11-28T08:30:00Z');
    expectPeriod('hour', 'Pacific/Chatham', '2026-11-28T13+13:45', '2026-11-27T23:15:00Z', '2026-11-28T00:15:00Z');
  });

  it('names an hour at an offset of whole seconds by them too (Africa/Monrovia, -00:44:30 until 1972)', () => {
    expectPeriod('hour', 'Africa/Monrovia', '1970-06-01T12-00:44:30', '1970-06-01T12:44:30Z', '1970-06-01T13:44:30Z');
  });

  it('makes the repeated 01:00 hour two periods with different ids (America/New_York, 2026-11-01)', () => {
    expectPeriod('hour', 'America/New_York', '2026-11-01T01-04:00', '2026-11-01T05:00:00Z', '2026-11-01T06:00:00Z');
    expectPeriod('hour', 'America/New_York', '2026-11-01T01-05:00', '2026-11-01T06:00:00Z', '2026-11-01T07:00:00Z');
  });

  it('goes from 01:00 to 03:00 when clocks go forward (America/New_York, 2026-03-08)', () => {
    expectPeriod('hour', 'America/New_York', '2026-03-08T01-05:00', '2026-03-08T06:00:00Z', '2026-03-08T07:00:00Z');
    expectPeriod('hour', 'America/New_York', '2026-03-08T03-04:00', '2026-03-08T07:00:00Z', '2026-03-08T08:00:00Z');
  });

  it('splits hours at a half-hour change (Australia/Lord_Howe)', () => {
    // Forward, 02:00 +10:30 → 02:30 +11:00: the 02 hour is half an hour long.
    expectPeriod('hour', 'Australia/Lord_Howe', '2026-10-04T01+10:30', '2026-10-03T14:30:00Z', '2026-10-03T15:30:00Z');
    expectPeriod('hour', 'Australia/Lord_Howe', '2026-10-04T02+11:00', '2026-10-03T15:30:00Z', '2026-10-03T16:00:00Z');
    // Back, 02:00 +11:00 → 01:30 +10:30: 01:30–02:00 comes again, as its own period.
    expectPeriod('hour', 'Australia/Lord_Howe', '2026-04-05T01+11:00', '2026-04-04T14:00:00Z', '2026-04-04T15:00:00Z');
    expectPeriod('hour', 'Australia/Lord_Howe', '2026-04-05T01+10:30', '2026-04-04T15:00:00Z', '2026-04-04T15:30:00Z');
  });
});

describe('ISO weeks', () => {
  it('runs Monday to Monday, named by week-year and week number', () => {
    expectPeriod('week', 'UTC', '2026-W48', '2026-11-23T00:00:00Z', '2026-11-30T00:00:00Z');
  });

  it('belongs to the year of its Thursday across the year boundary', () => {
    expectPeriod('week', 'UTC', '2026-W01', '2025-12-29T00:00:00Z', '2026-01-05T00:00:00Z');
    expectPeriod('week', 'UTC', '2026-W53', '2026-12-28T00:00:00Z', '2027-01-04T00:00:00Z');
    expect(periodAt(utc('2027-01-04T00:00:00Z'), 'week', 'UTC').id).toBe('2027-W01');
  });

  it('starts at local midnight and loses the skipped hour (America/New_York)', () => {
    expectPeriod('week', 'America/New_York', '2026-W10', '2026-03-02T05:00:00Z', '2026-03-09T04:00:00Z');
    expect(hours('week', 'America/New_York', '2026-03-05T12:00:00Z')).toBe(167);
  });
});

describe('months', () => {
  it.each([
    ['2026-01', 31],
    ['2026-02', 28],
    ['2028-02', 29],
    ['2026-04', 30],
    ['2026-12', 31],
  ])('%s has %i days', (id, days) => {
    const period = periodAt(utc(`${id}-15T12:00:00Z`), 'month', 'UTC');
    expect(period.id).toBe(id);
    expect((period.endMs - period.startMs) / (24 * HOUR)).toBe(days);
  });

  it('runs between local first-of-month midnights, DST included', () => {
    expectPeriod('month', 'America/New_York', '2026-03', '2026-03-01T05:00:00Z', '2026-04-01T04:00:00Z');
    expectPeriod('month', 'Asia/Kolkata', '2026-12', '2026-11-30T18:30:00Z', '2026-12-31T18:30:00Z');
    expectPeriod('month', 'UTC', '2028-02', '2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z');
  });
});

describe('time zones', () => {
  it('tells known zones from unknown ones', () => {
    expect(validateTimeZone('Europe/London')).toBe(true);
    expect(validateTimeZone('UTC')).toBe(true);
    expect(validateTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(validateTimeZone('')).toBe(false);
  });

  it('throws a RangeError for an unknown zone', () => {
    expect(() => periodAt(0, 'day', 'Mars/Olympus_Mons')).toThrow(RangeError);
  });

  it('hands out the same frozen period for every instant inside it', () => {
    const first = periodAt(utc('2026-11-28T00:00:00Z'), 'day', 'Europe/Paris');
    expect(periodAt(utc('2026-11-28T12:00:00Z'), 'day', 'Europe/Paris')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('hands out the period kept from its first millisecond, and the next one from its end', () => {
    const day = periodAt(utc('2026-11-27T12:00:00Z'), 'day', 'UTC');
    expect(periodAt(day.startMs, 'day', 'UTC')).toBe(day);
    expect(periodAt(day.endMs, 'day', 'UTC')).toEqual({
      id: '2026-11-28',
      startMs: day.endMs,
      endMs: day.endMs + 24 * HOUR,
    });
  });

  it('keeps up to 1000 zones, any casing counted apart, then starts again from none', () => {
    // A module of its own: the zones other tests asked for are not counted.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { periodAt: fresh } = loadAnew(() => require('../../lib/store/periods') as typeof Periods);
    const at = utc('2026-11-28T12:00:00Z');
    const kept = fresh(at, 'day', 'Etc/GMT+1');
    // 998 casings of one zone more, each of its first ten letters upper or lower case: 999 zones kept.
    const zone = 'americaargentina';
    for (let mask = 1; mask < 999; mask++) {
      const cased = [...zone].map((char, i) => (mask & (1 << i) ? char.toUpperCase() : char));
      fresh(at, 'day', `${cased.slice(0, 7).join('')}/${cased.slice(7).join('')}/ComodRivadavia`);
    }
    expect(fresh(at, 'day', 'Etc/GMT+1')).toBe(kept);
    // The 1000th zone is kept beside the others; the 1001st finds the cache full and empties it first.
    fresh(at, 'day', 'Etc/GMT+2');
    expect(fresh(at, 'day', 'Etc/GMT+1')).toBe(kept);
    fresh(at, 'day', 'Etc/GMT+3');
    const again = fresh(at, 'day', 'Etc/GMT+1');
    expect(again).not.toBe(kept);
    expect(again).toEqual(kept);
  });
});
