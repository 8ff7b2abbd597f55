// The spend watcher on made-up settle reports: threshold alerts, spike alerts against the previous 24 hours, one baseline read per hour.
import { spendScope, weightsOf } from '../../lib/alerts/spend-scopes';
import { BASELINE_HOURS, previousHours } from '../../lib/alerts/spike';
import { createSpendWatcher, type WatchedScope } from '../../lib/alerts/watcher';
import type { SpendMove } from '../../lib/store/types';
import type { SpendAlert } from '../../lib';

const HOUR = 3_600_000;
const USD = 1_000_000_000;
const NOW = Date.UTC(2026, 10, 28, 15, 20);

function watched(window: 'hour' | 'day', thresholds: number[], feature?: string, timeZone = 'UTC'): WatchedScope {
  const scope = spendScope({
    meter: 'spend',
    feature,
    window,
    timeZone,
    limit: Number.MAX_SAFE_INTEGER,
    weights: weightsOf({ input: 2_500_000_000, cachedInput: 1_250_000_000, output: 10_000_000_000 }),
    onUnavailable: 'fallback',
  });
  return { scope, window, feature, thresholds };
}

interface Harness {
  alerts: SpendAlert[];
  warnings: string[];
  reads: number[][];
  observe(moves: SpendMove[]): void;
  /** Resolves once `n` alerts or warnings have come (spike checks run in the background). */
  settled(n: number): Promise<void>;
}

function harness(
  scopes: WatchedScope[],
  options: {
    spike?: { factor: number; minNanos: number };
    readSpent?: (atMs: readonly number[]) => Promise<number[]>;
    now?: () => number;
  } = {},
): Harness {
  const alerts: SpendAlert[] = [];
  const warnings: string[] = [];
  const reads: number[][] = [];
  const byKey = new Map(scopes.map((s) => [s.scope.key, s]));
  const watcher = createSpendWatcher({
    meter: 'spend',
    scopeOf: (key) => byKey.get(key),
    spike: options.spike,
    readSpent: async (_scope, atMs) => {
      reads.push([...atMs]);
      return options.readSpent ? options.readSpent(atMs) : atMs.map(() => 0);
    },
    send: (alert) => alerts.push(alert),
    warn: (code) => warnings.push(code),
    now: options.now ?? (() => NOW),
  });
  return {
    alerts,
    warnings,
    reads,
    observe: (moves) => watcher.observe(moves),
    async settled(n) {
      while (alerts.length + warnings.length < n) await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

const move = (scope: WatchedScope, before: number, after: number): SpendMove => ({ scope: scope.scope, before, after });

describe('threshold alerts', () => {
  it('alerts each threshold the move crossed, with the payload of the issue', () => {
    const hour = watched('hour', [50 * USD, 100 * USD]);
    const h = harness([hour]);
    h.observe([move(hour, 49 * USD, 120 * USD)]);
    expect(h.alerts).toEqual([
      {
        kind: 'threshold',
        window: 'hour',
        thresholdUsd: 50,
        spentUsd: 120,
        at: new Date(NOW).toISOString(),
        windowStart: '2026-11-28T15:00:00.000Z',
        meter: 'spend',
      },
      {
        kind: 'threshold',
        window: 'hour',
        thresholdUsd: 100,
        spentUsd: 120,
        at: new Date(NOW).toISOString(),
        windowStart: '2026-11-28T15:00:00.000Z',
        meter: 'spend',
      },
    ]);
    h.observe([move(hour, 120 * USD, 130 * USD)]);
    expect(h.alerts).toHaveLength(2);
  });

  it('names the feature and the day window', () => {
    const day = watched('day', [10 * USD], 'chat', 'Europe/Paris');
    const h = harness([day]);
    h.observe([move(day, 9 * USD, 10 * USD)]);
    expect(h.alerts).toEqual([
      expect.objectContaining({ window: 'day', feature: 'chat', thresholdUsd: 10, windowStart: '2026-11-27T23:00:00.000Z' }),
    ]);
  });

  it("ignores moves of other meters' scopes and moves that spent nothing", () => {
    const mine = watched('hour', [1]);
    const other = { ...watched('hour', [1]), scope: { ...mine.scope, key: 'g:{other@}:hour' } };
    const h = harness([mine]);
    h.observe([move(other, 0, 5), move(mine, 3, 3), move(mine, 5, 0)]);
    expect(h.alerts).toEqual([]);
  });
});

describe('spike alerts', () => {
  const rule = { factor: 3, minNanos: 1 * USD };

  it('reads the 24 calendar hours before the current one', () => {
    const hour = watched('hour', []);
    const starts = previousHours(hour.scope, hour.scope.window.periodAt(NOW));
    expect(starts).toHaveLength(BASELINE_HOURS);
    expect(starts[0]).toBe(Date.UTC(2026, 10, 28, 14));
    expect(starts[23]).toBe(Date.UTC(2026, 10, 27, 15));
  });

  it('alerts once when the hour passes factor × the average of the previous 24 hours', async () => {
    const hour = watched('hour', []);
    // $2 an hour for a day: the spike threshold is just above $6.
    const h = harness([hour], { spike: rule, readSpent: async (atMs) => atMs.map(() => 2 * USD) });
    h.observe([move(hour, 0, 6 * USD)]);
    h.observe([move(hour, 6 * USD, 6 * USD + 1)]);
    h.observe([move(hour, 6 * USD + 1, 9 * USD)]);
    await h.settled(1);
    expect(h.alerts).toEqual([
      expect.objectContaining({
        kind: 'spike',
        window: 'hour',
        thresholdUsd: 6.000000001,
        spentUsd: 6.000000001,
        baselineUsd: 2,
      }),
    ]);
    // Concurrent settlements of one hour share one read of the baseline.
    expect(h.reads).toHaveLength(1);
  });

  it('needs at least minUsd: a quiet history does not page for cents', async () => {
    const hour = watched('hour', []);
    const h = harness([hour], { spike: rule });
    h.observe([move(hour, 0, USD / 2)]);
    h.observe([move(hour, USD / 2, USD)]);
    await h.settled(1);
    expect(h.alerts).toEqual([expect.objectContaining({ kind: 'spike', thresholdUsd: 1, spentUsd: 1, baselineUsd: 0 })]);
  });

  it('reads the baseline again in the next hour, and after a failed read', async () => {
    let now = NOW;
    let fail = true;
    const hour = watched('hour', []);
    const h = harness([hour], {
      spike: rule,
      now: () => now,
      readSpent: async (atMs) => {
        if (fail) throw new Error('store unreachable');
        return atMs.map(() => 0);
      },
    });
    h.observe([move(hour, 0, 1)]);
    await h.settled(1);
    expect(h.warnings).toEqual(['TB_SPIKE_BASELINE_UNREADABLE']);
    fail = false;
    h.observe([move(hour, 1, 2 * USD)]);
    await h.settled(2);
    now += HOUR;
    h.observe([move(hour, 0, 2 * USD)]);
    await h.settled(3);
    expect(h.reads).toHaveLength(3);
    expect(h.reads[2]![0]).toBe(Date.UTC(2026, 10, 28, 15));
    expect(h.alerts.map((a) => a.windowStart)).toEqual(['2026-11-28T15:00:00.000Z', '2026-11-28T16:00:00.000Z']);
  });

  it('checks hourly scopes only', async () => {
    const day = watched('day', []);
    const h = harness([day], { spike: rule });
    h.observe([move(day, 0, 100 * USD)]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.reads).toEqual([]);
    expect(h.alerts).toEqual([]);
  });
});
