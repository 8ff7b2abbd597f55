// ExpiringCounters alone: expiries rounded up to whole seconds, counters live until that instant, sweeps in any order of groups and in slices.
import { ExpiringCounters } from '../../lib/store/expiring-counters';

describe('ExpiringCounters', () => {
  it('keeps a counter until its expiry, rounded up to the next whole second', () => {
    const counters = new ExpiringCounters();
    expect(counters.add('a', 5, 1500, 0)).toBe(5);
    expect(counters.add('a', 2, 9000, 100)).toBe(7);
    expect(counters.get('a', 1999)).toBe(7);
    expect(counters.get('a', 2000)).toBeUndefined();
    // Created again once expired: from zero, at its new expiry (9000), not the old one.
    expect(counters.add('a', 3, 9000, 2000)).toBe(3);
    expect(counters.get('a', 8999)).toBe(3);
    expect(counters.get('a', 9000)).toBeUndefined();
  });

  it('moves an existing counter, never below zero, and leaves a missing or expired one missing', () => {
    const counters = new ExpiringCounters();
    counters.add('a', 5, 1000, 0);
    counters.moveExisting('a', -2, 0);
    expect(counters.get('a', 0)).toBe(3);
    counters.moveExisting('a', -10, 0);
    expect(counters.get('a', 0)).toBe(0);
    counters.moveExisting('b', 4, 0);
    counters.moveExisting('a', 4, 1000);
    expect([counters.get('b', 0), counters.get('a', 1000)]).toEqual([undefined, undefined]);
    expect(counters.size).toBe(1);
  });

  it('adds alongside a live companion, expiring keepMs after it; nothing once the companion is gone', () => {
    const counters = new ExpiringCounters();
    counters.add('window', 1, 1000, 0);
    expect(counters.addAlongside('spent', 4, 'window', 0)).toEqual([0, 4]);
    expect(counters.addAlongside('spent', 6, 'window', 500)).toEqual([4, 10]);
    expect(counters.get('spent', 999)).toBe(10);
    expect(counters.get('spent', 1000)).toBeUndefined();
    expect(counters.addAlongside('spent', 1, 'window', 1000)).toBeUndefined();
    counters.add('window2', 1, 2000, 1000);
    counters.addAlongside('kept', 3, 'window2', 1000, 5000);
    expect(counters.get('kept', 6999)).toBe(3);
    expect(counters.get('kept', 7000)).toBeUndefined();
  });

  it('sweeps the earliest expiry first, whatever order the groups were made in', () => {
    const counters = new ExpiringCounters();
    for (const [key, expiresAtMs] of [
      ['e', 5000],
      ['a', 1000],
      ['c', 3000],
      ['b', 2000],
      ['d', 4000],
      ['a2', 1000],
    ] as const)
      counters.add(key, 1, expiresAtMs, 0);
    expect(counters.hasExpired(999)).toBe(false);
    expect(counters.sweep(999)).toBe(0);
    expect(counters.hasExpired(1000)).toBe(true);
    expect(counters.sweep(1000)).toBe(2);
    expect(counters.hasExpired(1000)).toBe(false);
    expect(counters.sweep(3500)).toBe(2);
    expect([counters.get('d', 3500), counters.get('e', 3500)]).toEqual([1, 1]);
    expect(counters.sweep(5000)).toBe(2);
    expect(counters.size).toBe(0);
    expect(counters.hasExpired(Infinity)).toBe(false);
  });

  it('sweeps in slices of maxKeys keys, going on where the last slice stopped', () => {
    const counters = new ExpiringCounters();
    for (const key of ['a', 'b', 'c', 'd', 'e']) counters.add(key, 1, 1000, 0);
    counters.add('later', 1, 2000, 0);
    expect(counters.sweep(2000, 2)).toBe(2);
    expect(counters.size).toBe(4);
    expect(counters.sweep(2000, 2)).toBe(2);
    expect(counters.hasExpired(2000)).toBe(true);
    expect(counters.sweep(2000, 2)).toBe(2);
    expect(counters.size).toBe(0);
    expect(counters.hasExpired(2000)).toBe(false);
  });

  it('does not sweep a key made again into a later group with its old group', () => {
    const counters = new ExpiringCounters();
    counters.add('a', 1, 1000, 0);
    counters.add('a', 7, 3000, 1000);
    expect(counters.sweep(1000)).toBe(0);
    expect(counters.get('a', 1000)).toBe(7);
    expect(counters.sweep(3000)).toBe(1);
  });

  it('forgets everything on clear, an interrupted sweep included', () => {
    const counters = new ExpiringCounters();
    for (const key of ['a', 'b', 'c']) counters.add(key, 1, 1000, 0);
    counters.sweep(1000, 1);
    counters.clear();
    expect([counters.size, counters.hasExpired(Infinity)]).toEqual([0, false]);
    counters.add('a', 2, 1000, 0);
    expect(counters.get('a', 0)).toBe(2);
    expect(counters.sweep(1000)).toBe(1);
  });
});
