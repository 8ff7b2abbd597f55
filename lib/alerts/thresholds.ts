// Threshold crossings: which thresholds one settlement carried a window's spend over.

/**
 * The thresholds (nano-USD) crossed when a window's settled spend moved from
 * `before` to `after`: `before < threshold ≤ after`. The store moves the counter
 * atomically and reports both ends, so across every process exactly one settlement
 * sees each crossing, and a threshold is alerted once per window.
 */
export function crossedThresholds(thresholds: readonly number[], before: number, after: number): number[] {
  return thresholds.filter((threshold) => before < threshold && threshold <= after);
}
