// globalTpm: declares the tokens-per-minute limit shared by every user and process.
import type { RequestHandler } from 'express';
import { checkName, checkPolicy, fail, positiveInteger, type BudgetConfig } from '../config';
import { globalScopeKey } from '../store/keys';
import { checkMode } from '../shadow';
import type { ScopeRequest } from '../store/types';
import type { GlobalTpmOptions } from '../types';
import { answerRefusal, readErrorOptions, requireContext } from './respond';

/** One-second buckets: over any 60 s the admitted tokens stay within the limit, and at least 60/61 of it is usable. */
const MINUTE = { kind: 'sliding', windowMs: 60_000, bucketMs: 1_000 } as const;

/** Builds `budget.globalTpm({ limit })`. */
export function createGlobalTpm(config: BudgetConfig, options: GlobalTpmOptions): RequestHandler {
  const path = 'globalTpm';
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
  const errorOptions = readErrorOptions(config, options, path);
  const mode = checkMode(options.mode, `${path}.mode`, config.mode);
  return (req, res, next) => {
    try {
      requireContext(req, 'globalTpm').declare(scope, mode);
    } catch (err) {
      return answerRefusal(err, req, res, next, errorOptions);
    }
    next();
  };
}
