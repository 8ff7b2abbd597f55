// featureFlag: a kill switch checked against this process's copy of the flags, no store round trip.
import type { RequestHandler } from 'express';
import { checkName, checkPolicy, fail, type BudgetConfig } from '../config';
import type { FlagCache } from '../flags/cache';
import { BudgetRefusal } from '../refusal';
import type { FeatureFlagOptions } from '../types';
import { answerRefusal, readErrorOptions } from './respond';

/** Builds `budget.featureFlag(name, options)`: 503 `feature_disabled` while the flag is off, `onUnknown` while it was never read. */
export function createFeatureFlag(
  config: BudgetConfig,
  flags: FlagCache,
  name: string,
  options: FeatureFlagOptions = {},
): RequestHandler {
  const path = `featureFlag("${name}")`;
  checkName(name, `${path}: the flag name`);
  const byDefault = options.default ?? true;
  if (typeof byDefault !== 'boolean')
    fail('TB_INVALID_OPTION', `${path}.default must be true or false; got ${JSON.stringify(byDefault)}.`);
  const serveUnknown = checkPolicy(options.onUnknown, `${path}.onUnknown`, config.onStoreUnavailable) === 'fail-open';
  const errorOptions = readErrorOptions(config, options, path);

  return (req, res, next) => {
    const decide = () => {
      if (!flags.known && !serveUnknown) {
        const refusal = new BudgetRefusal('budget_unavailable', 'This feature cannot be checked right now; retry shortly.', {
          retryAfterSeconds: 1,
        });
        return answerRefusal(refusal, req, res, next, errorOptions);
      }
      if (flags.peek(name) ?? byDefault) next();
      else answerRefusal(new BudgetRefusal('feature_disabled', 'This feature is switched off.'), req, res, next, errorOptions);
    };
    if (flags.loaded) decide();
    // Only requests that arrive before the first read of the store has ended wait for it (bounded by its deadline).
    else flags.whenLoaded().then(decide, next);
  };
}
