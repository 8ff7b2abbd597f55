// The 400 a request reader throws, read in tests: its type checked, its message returned.
import { BudgetRefusal } from '../../lib/refusal';

/** The message of the `invalid_request` refusal that `read` throws; fails when it throws anything else or nothing. */
export function invalidRequestMessage(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    expect(err).toBeInstanceOf(BudgetRefusal);
    expect((err as BudgetRefusal).type).toBe('invalid_request');
    return (err as BudgetRefusal).message;
  }
  throw new Error('expected an invalid_request refusal');
}
