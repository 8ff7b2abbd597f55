// Store errors told to the app's callback: console.warn by default, and a throwing callback never escapes.
/**
 * Wraps `onError` so that it can be called from event listeners and store paths
 * without risk: a callback that throws must not crash the process (an `error`
 * listener) or fail a request whose model call already succeeded (a settle).
 */
export function errorReporter(onError: ((err: Error) => void) | undefined): (err: Error) => void {
  const report = onError ?? ((err: Error) => console.warn(`token-budget: ${err.message}`));
  return (err) => {
    try {
      report(err);
    } catch {
      // Nowhere left to tell; the store goes on.
    }
  };
}
