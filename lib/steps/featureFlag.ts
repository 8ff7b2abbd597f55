// featureFlag: a kill switch checked against this process's copy of the flags, no store round trip.
import type { BudgetConfig } from '../config';
import { checkName, checkOptionNames, checkPolicy, fail, optionNames } from '../options/check';
import type { FlagCache } from '../flags/cache';
import { BudgetRefusal } from '../refusal';
import type { FeatureFlagOptions } from '../types';
import { readErrorOptions } from './respond';
import type { Step } from './step';

/** Builds `budget.featureFlag(name, options)`: 503 `feature_disabled` while the flag is off, `onUnknown` while it was never read. */
const FEATURE_FLAG_OPTION_NAMES = optionNames<FeatureFlagOptions>({
  default: true,
  onUnknown: true,
  errors: true,
  onReject: true,
});

export function createFeatureFlag(config: BudgetConfig, flags: FlagCache, name: string, options: FeatureFlagOptions = {}): Step {
  const path = `featureFlag("${name}")`;
  checkName(name, `${path}: the flag name`);
  checkOptionNames(options, FEATURE_FLAG_OPTION_NAMES, path);
  const byDefault = options.default ?? true;
  if (typeof byDefault !== 'boolean')
    fail('TB_INVALID_OPTION', `${path}.default must be true or false; got ${JSON.stringify(byDefault)}.`);
  const serveUnknown = checkPolicy(options.onUnknown, `${path}.onUnknown`, config.onStoreUnavailable) === 'fail-open';
  const decide = (): void => {
    if (!flags.known && !serveUnknown) {
      throw new BudgetRefusal('budget_unavailable', 'This feature cannot be checked right now; retry shortly.', {
        retryAfterSeconds: 1,
      });
    }
    if (!(flags.peek(name) ?? byDefault)) throw new BudgetRefusal('feature_disabled', 'This feature is switched off.');
  };
  return {
    // Only requests that arrive before the first read of the store has ended wait for it (bounded by its deadline).
    run: () => (flags.loaded ? decide() : flags.whenLoaded().then(decide)),
    answer: readErrorOptions(config, options, path),
    ends: false,
  };
}
