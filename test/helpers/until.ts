// The one polling wait of the tests: resolves once a condition holds, with how long that took.

export interface UntilOptions {
  /** How often the condition is checked. Default: 10 ms. */
  everyMs?: number;
  /** Gives up (rejects) after this long. Default: never; Jest's test time-out bounds the wait. */
  timeoutMs?: number;
}

/** Polls `condition` until it holds; resolves with the milliseconds waited, rejects once `timeoutMs` has passed. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  { everyMs = 10, timeoutMs = Infinity }: UntilOptions = {},
): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    const waited = performance.now() - started;
    if (waited > timeoutMs) throw new Error(`condition still false after ${Math.round(waited)} ms: ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return performance.now() - started;
}
