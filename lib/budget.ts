// createTokenBudget: reads the options once and hands out the middlewares that share them.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { fail, readConfig } from './config';
import { createFlagCache, type FeatureFlags, type FlagCache } from './flags/cache';
import { flagChannelOf } from './flags/channel';
import { createErrorHandler } from './middleware/errorHandler';
import { createFeatureBudget } from './middleware/featureBudget';
import { createFeatureFlag } from './middleware/featureFlag';
import { createGlobalTpm } from './middleware/globalTpm';
import { createLlmHandler } from './middleware/llmHandler';
import { createUsageHandler, toUserUsage } from './middleware/usageHandler';
import { createUserQuota, readUserQuota, userScope, type UserQuotaConfig } from './middleware/userQuota';
import type { Store } from './store/types';
import { warmEncoders } from './tokens/encoder';
import type {
  FeatureBudgetOptions,
  FeatureFlagOptions,
  GlobalTpmOptions,
  LlmHandlerOptions,
  TokenBudgetOptions,
  UserQuotaOptions,
  UserUsage,
} from './types';

export interface TokenBudget {
  /** 503 `feature_disabled` while flag `name` is off; a flag never set is `options.default` (on). No store round trip. */
  featureFlag(name: string, options?: FeatureFlagOptions): RequestHandler;
  /** Kill switches shared by every process on the store (each process's own with the memory store). */
  readonly flags: FeatureFlags;
  /** Counts the input of feature `name`, degrades or rejects it, caps the output, declares its daily budget. */
  featureBudget(name: string, options?: FeatureBudgetOptions): RequestHandler;
  /** Declares the requesting user's quota for the current period. */
  userQuota(options: UserQuotaOptions): RequestHandler;
  /** Declares a tokens-per-minute limit shared by all users and processes. */
  globalTpm(options: GlobalTpmOptions): RequestHandler;
  /** Reserves every declared budget, calls the model with the computed limits, settles with the real usage. */
  llmHandler(options: LlmHandlerOptions): RequestHandler;
  /** GET handler answering `{ used, limit, remaining, resetAt }` for the requesting user (first userQuota's config). */
  usageHandler(): RequestHandler;
  /** Error middleware turning malformed or oversized JSON bodies into this package's JSON errors. */
  errorHandler(): ErrorRequestHandler;
  usage: {
    /** What user `id` has used and has left this period (first userQuota's config; tier default: its defaultTier). */
    user(id: string, tier?: string): Promise<UserUsage>;
  };
  /** Builds the encoders of every configured model now, so the first request does not pay for it (~1 s). */
  warmup(): void;
  /** The store every budget counts in (wrapped in the outage policies). */
  readonly store: Store;
}

/** Creates the budgets of an app from its feature table and store. */
export function createTokenBudget(options: TokenBudgetOptions): TokenBudget {
  const config = readConfig(options);
  let flagCache: FlagCache | undefined;
  // Made on first use, so that only apps with flags open the store's subscription.
  const flags = () => (flagCache ??= createFlagCache({ channel: flagChannelOf(options.store), onError: options.onStoreError }));
  let firstQuota: UserQuotaConfig | undefined;
  const requireQuota = (what: string): UserQuotaConfig =>
    firstQuota ?? fail('TB_INVALID_OPTION', `${what} needs a budget.userQuota(...) to be created first.`);

  return {
    featureFlag: (name, flagOptions) => createFeatureFlag(config, flags(), name, flagOptions),
    flags: {
      set: (name, on) => flags().set(name, on),
      get: (name) => flags().get(name),
      list: () => flags().list(),
      close: async () => flagCache?.close(),
    },
    featureBudget: (name, featureOptions) => createFeatureBudget(config, name, featureOptions),
    userQuota(quotaOptions) {
      const quota = readUserQuota(config, quotaOptions);
      firstQuota ??= quota;
      return createUserQuota(quota);
    },
    globalTpm: (tpmOptions) => createGlobalTpm(config, tpmOptions),
    llmHandler: (handlerOptions) => createLlmHandler(config, handlerOptions),
    usageHandler: () => createUsageHandler(config.store, requireQuota('usageHandler()')),
    errorHandler: () => createErrorHandler(config.errorOptions),
    usage: {
      async user(id, tier) {
        const quota = requireQuota('usage.user()');
        return toUserUsage(await config.store.usage(userScope(quota, String(id), tier)));
      },
    },
    warmup() {
      warmEncoders([...new Set([...config.features.values()].map((f) => f.modelInfo.encoding))]);
    },
    store: config.store,
  };
}
