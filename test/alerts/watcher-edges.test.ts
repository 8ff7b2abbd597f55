// The spend watcher and alert sinks at their edges: the words of their warnings, moves that spent nothing, a stale failed baseline read.
import { createAlertSender } from '../../lib/alerts/sinks';
import { NO_CAP, spendScope, weightsOf } from '../../lib/alerts/spend-scopes';
import { readWebhook } from '../../lib/alerts/webhook';
import { createSpendWatcher } from '../../lib/alerts/watcher';
import type { SpendMove } from '../../lib/store/types';
import type { SpendAlert } from '../../lib/types';
import { startReceiver } from './receiver';

const USD = 1_000_000_000;
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 28, 15, 20);
const ALERT: SpendAlert = {
  kind: 'threshold',
  window: 'hour',
  thresholdUsd: 1,
  spentUsd: 1,
  at: '2026-11-28T15:20:00.000Z',
  windowStart: '2026-11-28T15:00:00.000Z',
  meter: 'spend',
};

const scope = spendScope({
  meter: 'spend',
  feature: undefined,
  window: 'hour',
  timeZone: 'UTC',
  limit: NO_CAP,
  weights: weightsOf({ input: 1, cachedInput: 1, output: 1 }),
  onUnavailable: 'fallback',
});
const watched = { scope, window: 'hour' as const, feature: undefined, thresholds: [USD] };
const move = (before: number, after: number): SpendMove => ({ scope, before, after });

/** A watcher whose baseline reads are answered by hand. */
function watcher(now: () => number = () => NOW) {
  const alerts: SpendAlert[] = [];
  const warnings: string[] = [];
  const reads: { resolve: (spent: number[]) => void; reject: (err: unknown) => void }[] = [];
  const spend = createSpendWatcher({
    meter: 'spend',
    scopeOf: (key) => (key === scope.key ? watched : undefined),
    spike: { factor: 3, minNanos: USD },
    readSpent: () => new Promise((resolve, reject) => reads.push({ resolve, reject })),
    send: (alert) => alerts.push(alert),
    warn: (code, message) => warnings.push(`${code}: ${message}`),
    now,
  });
  return { alerts, warnings, reads, observe: (moves: SpendMove[]) => spend.observe(moves) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('the spend watcher', () => {
  it('leaves the feature out of a global meter’s alert', () => {
    const w = watcher();
    w.observe([move(0, USD)]);
    expect(w.alerts).toHaveLength(1);
    expect('feature' in w.alerts[0]!).toBe(false);
  });

  it('reads no baseline for a move that spent nothing or went back', () => {
    const w = watcher();
    w.observe([move(5, 5), move(5, 0)]);
    expect(w.reads).toHaveLength(0);
  });

  it('says why a spike could not be checked', async () => {
    const w = watcher();
    w.observe([move(0, 1)]);
    w.reads[0]!.reject(new Error('store unreachable'));
    await tick();
    w.observe([move(1, 2)]);
    w.reads[1]!.reject('timeout');
    await tick();
    expect(w.warnings).toEqual([
      'TB_SPIKE_BASELINE_UNREADABLE: costMeter "spend" could not read the previous 24 hours of spend to check for a spike: store unreachable.',
      'TB_SPIKE_BASELINE_UNREADABLE: costMeter "spend" could not read the previous 24 hours of spend to check for a spike: timeout.',
    ]);
  });

  it("a failed read of a past hour leaves the next hour's baseline cached", async () => {
    let now = NOW;
    const w = watcher(() => now);
    w.observe([move(0, 1)]);
    now += HOUR;
    w.observe([move(0, 1)]);
    w.reads[0]!.reject(new Error('late'));
    w.reads[1]!.resolve(Array.from({ length: 24 }, () => 0));
    await tick();
    w.observe([move(1, 2)]);
    expect(w.reads).toHaveLength(2);
  });
});

describe('alert sinks', () => {
  it("tell warn onAlert's error in words", async () => {
    const warnings: string[] = [];
    const warn = (code: string, message: string) => warnings.push(`${code}: ${message}`);
    const fails = (thrown: unknown) => () => {
      throw thrown;
    };
    createAlertSender({ onAlert: fails(new Error('boom')), webhook: undefined }, warn)(ALERT);
    createAlertSender({ onAlert: fails('no'), webhook: undefined }, warn)(ALERT);
    expect(warnings).toEqual([
      "TB_ALERT_CALLBACK_FAILED: costMeter's onAlert failed: boom.",
      "TB_ALERT_CALLBACK_FAILED: costMeter's onAlert failed: no.",
    ]);
  });

  it('warn nothing when the webhook took the alert', async () => {
    const hook = await startReceiver(() => 204);
    const warnings: string[] = [];
    try {
      createAlertSender({ onAlert: undefined, webhook: readWebhook(hook.url, 'webhook') }, (code) => warnings.push(code))(ALERT);
      await hook.count(1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(warnings).toEqual([]);
    } finally {
      await hook.close();
    }
  });
});
