// The error a middleware of one framework's entry throws when another framework calls it.
import { TokenBudgetConfigError } from './config-error';

/** `entry`'s middleware was mounted on `framework`; `fix` is the import that framework needs. */
export function wrongFramework(entry: string, framework: string, fix: string): TokenBudgetConfigError {
  return new TokenBudgetConfigError(
    'TB_WRONG_FRAMEWORK',
    `A middleware of '${entry}' was mounted on ${framework}; use the ${framework} middlewares instead: ${fix}.`,
  );
}
