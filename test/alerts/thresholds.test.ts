// Threshold crossings and money amounts: each threshold is crossed by exactly one of a window's atomic moves.
import fc from 'fast-check';
import { formatUsd, usdToNanos } from '../../lib/alerts/money';
import { crossedThresholds } from '../../lib/alerts/thresholds';

describe('crossedThresholds', () => {
  it('reports a threshold when the move reaches it, not when it starts there', () => {
    expect(crossedThresholds([100], 99, 100)).toEqual([100]);
    expect(crossedThresholds([100], 100, 150)).toEqual([]);
    expect(crossedThresholds([100], 0, 99)).toEqual([]);
    expect(crossedThresholds([100, 200, 300], 150, 320)).toEqual([200, 300]);
  });

  it('over any sequence of atomic moves, every threshold reached is reported exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 200 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 50_000 }), { minLength: 1, maxLength: 5 }),
        (costs, thresholds) => {
          const seen = new Map<number, number>();
          let spent = 0;
          // What the store does: each settlement moves the counter and reports before and after.
          for (const cost of costs) {
            const before = spent;
            spent += cost;
            for (const t of crossedThresholds(thresholds, before, spent)) seen.set(t, (seen.get(t) ?? 0) + 1);
          }
          for (const t of thresholds) expect(seen.get(t) ?? 0).toBe(t <= spent ? 1 : 0);
        },
      ),
    );
  });
});

describe('money', () => {
  it('reads USD into whole nano-USD and rejects what is not an amount', () => {
    expect(usdToNanos(50, 'x')).toBe(50_000_000_000);
    expect(usdToNanos(0.07, 'x')).toBe(70_000_000);
    for (const bad of [0, -1, NaN, Infinity, '5', null]) {
      expect(() => usdToNanos(bad, 'costMeter.hourlyAlertUsd')).toThrow(
        /costMeter\.hourlyAlertUsd must be a positive amount of USD.*TB_INVALID_OPTION/,
      );
    }
  });

  it('writes nano-USD as an exact decimal', () => {
    expect(formatUsd(0)).toBe('0.000000000');
    expect(formatUsd(123_450)).toBe('0.000123450');
    expect(formatUsd(12_345_678_901_234)).toBe('12345.678901234');
  });
});
