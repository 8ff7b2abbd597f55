// Type checks of the warning codes, run by `npm run typecheck`: a closed list, so a misspelt code does not compile.
import type { BudgetWarning, WarningCode } from '../../lib';

export const known: WarningCode = 'TB_NO_USAGE';
export const shadow: BudgetWarning = { code: 'TB_SHADOW_USER_QUOTA_EXCEEDED', message: 'would have refused' };
// @ts-expect-error a misspelt code is no WarningCode
export const misspelt: WarningCode = 'TB_NO_USAGES';
