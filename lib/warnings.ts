// Configuration warnings: stable code, one sentence, reported once per code.
import type { BudgetWarning, WarningCode } from './types';

/** Tells `onWarning` once per code; the codes are a closed list, so a misspelt one does not compile. */
export type Warn = (code: WarningCode, message: string) => void;

/** Returns a `warn` that passes each code to `onWarning` once and never throws. */
export function warnOncePerCode(onWarning?: (warning: BudgetWarning) => void): Warn {
  const seen = new Set<WarningCode>();
  const report = onWarning ?? ((w: BudgetWarning) => console.warn(`token-budget: ${w.message} [${w.code}]`));
  return (code, message) => {
    if (seen.has(code)) return;
    seen.add(code);
    try {
      report({ code, message });
    } catch {
      // A faulty warning sink must not turn a warning into a failed request.
    }
  };
}
