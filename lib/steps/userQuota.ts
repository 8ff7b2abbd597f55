// userQuota: the quota named `user`, keyed by the signed-in user's id.
import type { BudgetConfig } from '../config';
import { checkOptionNames, fail, optionNames } from '../options/check';
import type { UserQuotaOptions } from '../types';
import { QUOTA_LIMIT_OPTIONS, readQuotaLimits, type QuotaConfig } from './quota';

const USER_QUOTA_OPTION_NAMES = optionNames<UserQuotaOptions>({ user: true, ...QUOTA_LIMIT_OPTIONS });

/** Reads `budget.userQuota(options)`: the same budget as `budget.quota({ name: 'user', key: options.user, … })`. */
export function readUserQuota(config: BudgetConfig, options: UserQuotaOptions): QuotaConfig {
  if (typeof options?.user !== 'function') {
    fail(
      'TB_INVALID_OPTION',
      'userQuota needs { user: req => id }: the id must come from the app (e.g. req.user), not the client.',
    );
  }
  checkOptionNames(options, USER_QUOTA_OPTION_NAMES, 'userQuota');
  return readQuotaLimits(config, 'user', options.user, options, 'userQuota');
}
