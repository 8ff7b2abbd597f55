// Spike detection: the spend an hour must pass to be a spike, from the 24 hours before it, read once per hour.
import type { FixedWindow, Period, ScopeRequest } from '../store/types';

/** `spike: { factor, minUsd }`, read. */
export interface SpikeRule {
  factor: number;
  /** The least spend that can be a spike, nano-USD (at least 1). */
  minNanos: number;
}

/** What an hour is measured against. */
export interface SpikeThreshold {
  /** The spend (nano-USD) that makes the hour a spike. */
  thresholdNanos: number;
  /** Average spend of the previous hours, nano-USD. */
  baselineNanos: number;
}

/** The settled spend of `scope` in the windows containing each instant (`store.spentAt`). */
export type ReadSpent = (scope: ScopeRequest, atMs: readonly number[]) => Promise<number[]>;

/** How many previous hours make the baseline. */
export const BASELINE_HOURS = 24;

/** An hourly money scope. */
export type HourScope = ScopeRequest & { window: FixedWindow };

/** The starts of the `BASELINE_HOURS` calendar hours before `hour`, newest first. */
export function previousHours(scope: HourScope, hour: Period): number[] {
  const starts: number[] = [];
  let period = hour;
  for (let i = 0; i < BASELINE_HOURS; i++) {
    period = scope.window.periodAt(period.startMs - 1);
    starts.push(period.startMs);
  }
  return starts;
}

/**
 * An hour is a spike once its spend passes `factor` × the average of the 24 hours
 * before it, and is at least `minNanos`. The baseline is read once per scope and
 * hour (concurrent settlements share one read); a failed read is tried again by
 * the next settlement.
 */
export function createSpikeDetector(rule: SpikeRule, readSpent: ReadSpent) {
  const cache = new Map<string, { hourId: string; threshold: Promise<SpikeThreshold> }>();

  const read = async (scope: HourScope, hour: Period): Promise<SpikeThreshold> => {
    const spent = await readSpent(scope, previousHours(scope, hour));
    const sum = spent.reduce((total, nanos) => total + nanos, 0);
    // "Passes" the multiple: the first whole nano-USD above it.
    const aboveBaseline = Math.floor((rule.factor * sum) / BASELINE_HOURS) + 1;
    return { thresholdNanos: Math.max(aboveBaseline, rule.minNanos), baselineNanos: sum / BASELINE_HOURS };
  };

  return {
    /** The spike threshold of `hour` for `scope`. */
    thresholdFor(scope: HourScope, hour: Period): Promise<SpikeThreshold> {
      const cached = cache.get(scope.key);
      if (cached?.hourId === hour.id) return cached.threshold;
      const threshold = read(scope, hour);
      const entry = { hourId: hour.id, threshold };
      cache.set(scope.key, entry);
      threshold.catch(() => {
        if (cache.get(scope.key) === entry) cache.delete(scope.key);
      });
      return threshold;
    },
  };
}
