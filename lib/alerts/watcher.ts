// The spend watcher: turns what each settlement reports of a meter's windows into threshold and spike alerts.
import type { FixedWindow, ScopeRequest, SpendMove } from '../store/types';
import type { SpendAlert } from '../types';
import type { Warn } from '../warnings';
import { nanosToUsd } from './money';
import type { SendAlert } from './sinks';
import { createSpikeDetector, type ReadSpent, type SpikeRule } from './spike';
import { crossedThresholds } from './thresholds';

/** One money scope of a meter and what is watched in it. */
export interface WatchedScope {
  scope: ScopeRequest & { window: FixedWindow };
  window: 'hour' | 'day';
  /** The feature, for a meter kept per feature. */
  feature: string | undefined;
  /** Alert thresholds, nano-USD. */
  thresholds: readonly number[];
}

export interface SpendWatcherOptions {
  meter: string;
  /** The meter's scope of a key, or `undefined` for another meter's. */
  scopeOf: (key: string) => WatchedScope | undefined;
  spike: SpikeRule | undefined;
  /** Required with `spike`: the store's `spentAt`. */
  readSpent: ReadSpent | undefined;
  send: SendAlert;
  warn: Warn;
  now: () => number;
}

/**
 * Watches settlements: each threshold a move crossed is alerted at once (exactly one
 * settlement across all processes crosses it); an hourly move is then measured
 * against its hour's spike threshold, read in the background.
 */
export function createSpendWatcher(options: SpendWatcherOptions) {
  const { meter, scopeOf, send, warn, now } = options;
  const spikes = options.spike && options.readSpent ? createSpikeDetector(options.spike, options.readSpent) : undefined;

  const alert = (
    watched: WatchedScope,
    kind: SpendAlert['kind'],
    thresholdNanos: number,
    move: SpendMove,
    nowMs: number,
    windowStartMs: number,
  ): SpendAlert => ({
    kind,
    window: watched.window,
    thresholdUsd: nanosToUsd(thresholdNanos),
    spentUsd: nanosToUsd(move.after),
    ...(watched.feature === undefined ? {} : { feature: watched.feature }),
    at: new Date(nowMs).toISOString(),
    windowStart: new Date(windowStartMs).toISOString(),
    meter,
  });

  return {
    /** Looks at the moves of one settlement; returns at once. */
    observe(moves: readonly SpendMove[]): void {
      const nowMs = now();
      for (const move of moves) {
        const watched = scopeOf(move.scope.key);
        if (!watched || move.after <= move.before) continue;
        const period = watched.scope.window.periodAt(nowMs);
        for (const threshold of crossedThresholds(watched.thresholds, move.before, move.after)) {
          send(alert(watched, 'threshold', threshold, move, nowMs, period.startMs));
        }
        if (!spikes || watched.window !== 'hour') continue;
        spikes.thresholdFor(watched.scope, period).then(
          ({ thresholdNanos, baselineNanos }) => {
            if (crossedThresholds([thresholdNanos], move.before, move.after).length === 0) return;
            send({
              ...alert(watched, 'spike', thresholdNanos, move, nowMs, period.startMs),
              baselineUsd: nanosToUsd(baselineNanos),
            });
          },
          (err: unknown) =>
            warn(
              'TB_SPIKE_BASELINE_UNREADABLE',
              `costMeter "${meter}" could not read the previous 24 hours of spend to check for a spike: ${err instanceof Error ? err.message : String(err)}.`,
            ),
        );
      }
    },
  };
}
