// A configuration mistake as a test expects it: thrown at once, a TokenBudgetConfigError.
import { TokenBudgetConfigError } from '../../lib';

/** The TokenBudgetConfigError `make` throws; fails the test when it throws nothing or something else. */
export function configError(make: () => unknown): TokenBudgetConfigError {
  try {
    make();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenBudgetConfigError);
    return err as TokenBudgetConfigError;
  }
  throw new Error('expected a TokenBudgetConfigError');
}
