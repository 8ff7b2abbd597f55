// The error of a middleware mounted on the other framework: its code, and a message naming both frameworks and the fix.
import { TokenBudgetConfigError } from '../../lib';
import { wrongFramework } from '../../lib/wrong-framework';

test('wrongFramework names the entry, the framework it was mounted on, and the import to use', () => {
  const err = wrongFramework('token-budget', 'Koa', "import { createTokenBudget } from 'token-budget/koa'");
  expect(err).toBeInstanceOf(TokenBudgetConfigError);
  expect(err.code).toBe('TB_WRONG_FRAMEWORK');
  expect(err.message).toBe(
    "A middleware of 'token-budget' was mounted on Koa; use the Koa middlewares instead: import { createTokenBudget } from 'token-budget/koa'. [TB_WRONG_FRAMEWORK]",
  );
});
