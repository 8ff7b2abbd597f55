// Periods asked first at an instant inside them, not at a boundary: from a module loaded anew, so no period kept from another ask answers.
import * as Periods from '../../lib/store/periods';
import type { QuotaPeriod } from '../../lib';
import type { Period } from '../../lib/store/types';
import { loadAnew } from '../helpers/load-anew';

const utc = (iso: string) => Date.parse(iso);

/** The period holding `atIso`, from a periods module that has handed out none yet. */
function firstAsked(atIso: string, kind: QuotaPeriod, timeZone: string): Period {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { periodAt } = loadAnew(() => require('../../lib/store/periods') as typeof Periods);
  return periodAt(utc(atIso), kind, timeZone);
}

const period = (id: string, startIso: string, endIso: string) => ({ id, startMs: utc(startIso), endMs: utc(endIso) });

describe('a period asked first in its middle', () => {
  it('is a whole UTC day and hour, named by date and hour', () => {
    expect(firstAsked('2026-11-28T13:30:15Z', 'day', 'UTC')).toEqual(
      period('2026-11-28', '2026-11-28T00:00:00Z', '2026-11-29T00:00:00Z'),
    );
    expect(firstAsked('2026-11-28T13:30:15Z', 'hour', 'UTC')).toEqual(
      period('2026-11-28T13+00:00', '2026-11-28T13:00:00Z', '2026-11-28T14:00:00Z'),
    );
    expect(firstAsked('2026-02-03T04:05:06Z', 'hour', 'UTC')).toEqual(
      period('2026-02-03T04+00:00', '2026-02-03T04:00:00Z', '2026-02-03T05:00:00Z'),
    );
  });

  it('starts an hour shortened by a half-hour change at the change (Australia/Lord_Howe, 2026-10-04)', () => {
    // 02:00 +10:30 became 02:30 +11:00 at 15:30Z: the 02 hour runs from the change to 03:00.
    expect(firstAsked('2026-10-03T15:45:00Z', 'hour', 'Australia/Lord_Howe')).toEqual(
      period('2026-10-04T02+11:00', '2026-10-03T15:30:00Z', '2026-10-03T16:00:00Z'),
    );
    expect(firstAsked('2026-10-03T15:59:59.999Z', 'hour', 'Australia/Lord_Howe')).toEqual(
      period('2026-10-04T02+11:00', '2026-10-03T15:30:00Z', '2026-10-03T16:00:00Z'),
    );
  });

  it('ends an hour cut by a change of offset at the change (America/Goose_Bay, 00:01 ADT → 23:01 AST, 2009-11-01)', () => {
    expect(firstAsked('2009-11-01T03:00:30Z', 'hour', 'America/Goose_Bay')).toEqual(
      period('2009-11-01T00-03:00', '2009-11-01T03:00:00Z', '2009-11-01T03:01:00Z'),
    );
    // The repeated 23 hour starts at the change and runs to midnight AST.
    expect(firstAsked('2009-11-01T03:30:00Z', 'hour', 'America/Goose_Bay')).toEqual(
      period('2009-10-31T23-04:00', '2009-11-01T03:01:00Z', '2009-11-01T04:00:00Z'),
    );
  });
});

test('a time zone that is no string at all is a programming error, thrown, not an unknown zone', () => {
  expect(() => Periods.validateTimeZone(Symbol('zone') as never)).toThrow(TypeError);
});
