// globalTpm: declares the tokens-per-minute limit shared by every user and process.
import type { BudgetConfig } from '../config';
import { checkName, checkOptionNames, checkPolicy, fail, optionNames, positiveInteger } from '../options/check';
import { globalScopeKey } from '../store/keys';
import { checkMode } from '../shadow';
import type { ScopeRequest } from '../store/types';
import type { GlobalTpmOptions } from '../types';
import { readErrorOptions, requireContext } from './respond';
import type { Step } from './step';

/** One-second buckets: over any 60 s the admitted tokens stay within the limit, and at least 60/61 of it is usable. */
const MINUTE = { kind: 'sliding', windowMs: 60_000, bucketMs: 1_000 } as const;

const GLOBAL_TPM_OPTION_NAMES = optionNames<GlobalTpmOptions>({
  limit: true,
  name: true,
  headers: true,
  onStoreUnavailable: true,
  mode: true,
  errors: true,
  onReject: true,
});

/** Builds `budget.globalTpm({ limit })`. */
export function createGlobalTpm(config: BudgetConfig, options: GlobalTpmOptions): Step {
  const path = 'globalTpm';
  checkOptionNames(options, GLOBAL_TPM_OPTION_NAMES, path);
  const inHeaders = options?.headers ?? false;
  if (typeof inHeaders !== 'boolean')
    fail('TB_INVALID_OPTION', `${path}.headers must be true or false; got ${JSON.stringify(inHeaders)}.`);
  const scope: ScopeRequest = {
    kind: 'global',
    key: globalScopeKey(checkName(options?.name ?? 'tpm', `${path}.name`)),
    limit: positiveInteger(options?.limit, `${path}.limit`),
    onUnavailable: checkPolicy(options.onStoreUnavailable, `${path}.onStoreUnavailable`, config.onStoreUnavailable),
    window: MINUTE,
    inHeaders,
  };
  const mode = checkMode(options.mode, `${path}.mode`, config.mode);
  return {
    run: (exchange) => requireContext(exchange, 'globalTpm').declare(scope, mode),
    answer: readErrorOptions(config, options, path),
    ends: false,
  };
}
