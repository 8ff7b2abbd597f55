// TokenBudgetConfigError: its name, its stable code, and the code at the end of its message.
import { TokenBudgetConfigError } from '../../lib';

test('a TokenBudgetConfigError is named so, carries its code, and ends its message with it', () => {
  const err = new TokenBudgetConfigError('TB_INVALID_OPTION', 'maxMessages must be a positive integer.');
  expect(err).toBeInstanceOf(Error);
  expect(err.name).toBe('TokenBudgetConfigError');
  expect(err.code).toBe('TB_INVALID_OPTION');
  expect(err.message).toBe('maxMessages must be a positive integer. [TB_INVALID_OPTION]');
  expect(String(err)).toBe('TokenBudgetConfigError: maxMessages must be a positive integer. [TB_INVALID_OPTION]');
});
