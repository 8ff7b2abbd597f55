// createTokenBudget: reads the options once and hands out the middlewares that share them.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { withAliasPrices } from './aliases';
import type { Router } from 'express';
import { createAdminRouter } from './admin/router';
import { rankingObserver } from './admin/rankings';
import { readConfig } from './config';
import { createFlagCache, type FeatureFlags, type FlagCache } from './flags/cache';
import { flagChannelOf } from './flags/channel';
import { createCostMeter, readCostMeter, registerMeter, type MeterRegistry } from './middleware/costMeter';
import { createErrorHandler } from './middleware/errorHandler';
import { createFeatureBudget } from './middleware/featureBudget';
import { createFeatureFlag } from './middleware/featureFlag';
import { createMetrics } from './metrics/prometheus';
import { createGlobalTpm } from './middleware/globalTpm';
import { createLlmHandler } from './middleware/llmHandler';
import { createQuota, findQuota, readQuota, registerQuota, usageScope, type QuotaConfig } from './middleware/quota';
import { createUsageHandler, toUsage } from './middleware/usageHandler';
import { readUserQuota } from './middleware/userQuota';
import { findPrice, readPrices, type NanoPrice, type PriceList } from './pricing/prices';
import type { Store } from './store/types';
import { warmEncoders } from './tokens/encoder';
import type {
  AdminRouterOptions,
  CostMeterOptions,
  FeatureBudgetOptions,
  FeatureFlagOptions,
  GlobalTpmOptions,
  LlmHandlerOptions,
  MetricsOptions,
  PrincipalId,
  QuotaOptions,
  TokenBudgetOptions,
  UsageHandlerOptions,
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
  /** Declares the requesting user's quota for the current period: the quota named `user`. */
  userQuota(options: UserQuotaOptions): RequestHandler;
  /** Declares the quota `options.name` (team, organisation, API key, …) of the request's principal for the current period. */
  quota(options: QuotaOptions): RequestHandler;
  /** Declares a tokens-per-minute limit shared by all users and processes. */
  globalTpm(options: GlobalTpmOptions): RequestHandler;
  /**
   * Declares the spend of this hour and day (global or per feature) in nano-USD at the model's
   * prices, with optional hard caps; alerts once per threshold and window, and on spikes.
   */
  costMeter(options?: CostMeterOptions): RequestHandler;
  /** Reserves every declared budget, calls the model with the computed limits, settles with the real usage. */
  llmHandler(options: LlmHandlerOptions): RequestHandler;
  /** GET handler answering `{ used, limit, remaining, resetAt }` of the requester's quota (default: the user quota). */
  usageHandler(options?: UsageHandlerOptions): RequestHandler;
  /** Error middleware answering refusals thrown through run(), model-client errors and bad bodies as this package's JSON errors. */
  errorHandler(): ErrorRequestHandler;
  usage: {
    /** What user `id` has used and has left this period (tier default: the quota's defaultTier). */
    user(id: PrincipalId, tier?: string): Promise<UserUsage>;
    /** What principal `id` of quota `name` has used and has left this period (tier default: the quota's defaultTier). */
    quota(name: string, id: PrincipalId, tier?: string): Promise<UserUsage>;
  };
  /** Builds the encoders of every configured model now, so the first request does not pay for it (~1 s). */
  warmup(): void;
  /**
   * Registers Prometheus metrics (prom-client, loaded now) of every request of this budget:
   * tokens and cost by feature and model, refusals, degradations, reservations in flight,
   * store errors, outage policies, late spend, reserve and settle latency. No user ids as labels.
   */
  metrics(options?: MetricsOptions): void;
  /**
   * The admin JSON API and the spend dashboard (mount it, e.g. `app.use('/admin', …)`);
   * every request is refused unless `authorize(req)` resolves to true.
   */
  adminRouter(options: AdminRouterOptions): Router;
  /** The store every budget counts in (wrapped in the outage policies). */
  readonly store: Store;
}

/** Creates the budgets of an app from its feature table and store. */
export function createTokenBudget(options: TokenBudgetOptions): TokenBudget {
  const config = readConfig(options);
  let flagCache: FlagCache | undefined;
  // Made on first use, so that only apps with flags open the store's subscription.
  const flags = () => (flagCache ??= createFlagCache({ channel: flagChannelOf(options.store), onError: options.onStoreError }));
  const quotas = new Map<string, QuotaConfig>();
  const meters: MeterRegistry = new Map();
  let prices: PriceList | undefined;
  // Prices are read only by apps that track money (a costMeter, metrics, the admin view).
  // Read only by apps that track money.
  const priceList = () =>
    (prices ??= withAliasPrices(readPrices(options.prices, options.fallbackPrice), config.aliases, options.prices));
  const mountQuota = (quota: QuotaConfig): RequestHandler => {
    registerQuota(quotas, quota);
    return createQuota(quota);
  };
  const featureFlags: FeatureFlags = {
    set: (name, on) => flags().set(name, on),
    get: (name) => flags().get(name),
    list: () => flags().list(),
    close: async () => flagCache?.close(),
  };
  // Rankings live in the app's own store: the outage wrapper around it keeps none.
  const rankStore = options.store ?? config.store;
  const storeNow = () => config.store.now?.() ?? Date.now();
  const priceByModel = new Map<string, NanoPrice | undefined>();
  const modelPrice = (model: string) => {
    if (!priceByModel.has(model)) priceByModel.set(model, findPrice(model, priceList())?.price);
    return priceByModel.get(model);
  };
  let ranking = false;
  const readUsage = async (name: string, id: PrincipalId, tier: string | undefined, what: string): Promise<UserUsage> =>
    toUsage(await config.store.usage(usageScope(findQuota(quotas, name, what), id, tier)));

  return {
    featureFlag: (name, flagOptions) => createFeatureFlag(config, flags(), name, flagOptions),
    flags: featureFlags,
    featureBudget: (name, featureOptions) => createFeatureBudget(config, name, featureOptions),
    userQuota: (quotaOptions) => mountQuota(readUserQuota(config, quotaOptions)),
    quota: (quotaOptions) => mountQuota(readQuota(config, quotaOptions)),
    globalTpm: (tpmOptions) => createGlobalTpm(config, tpmOptions),
    costMeter(meterOptions) {
      const meter = readCostMeter(config, meterOptions);
      return createCostMeter(config, priceList(), meter, registerMeter(meters, meter));
    },
    llmHandler: (handlerOptions) => createLlmHandler(config, handlerOptions),
    usageHandler(handlerOptions) {
      const name = handlerOptions?.quota ?? 'user';
      return createUsageHandler(config.store, findQuota(quotas, name, `usageHandler({ quota: '${name}' })`));
    },
    errorHandler: () => createErrorHandler(config),
    usage: {
      user: (id, tier) => readUsage('user', id, tier, 'usage.user()'),
      quota: (name, id, tier) => readUsage(name, id, tier, `usage.quota('${name}')`),
    },
    warmup() {
      warmEncoders([...new Set([...config.features.values()].map((f) => f.modelInfo.encoding))]);
    },
    metrics(metricsOptions) {
      config.observers.add(createMetrics(modelPrice, metricsOptions));
    },
    adminRouter(adminOptions) {
      const router = createAdminRouter(
        config,
        {
          store: rankStore,
          now: storeNow,
          features: [...config.features.keys()],
          flags: featureFlags,
          meters: () => [...meters.values()].map((meter) => meter.config),
          usage: (name, id, tier) => readUsage(name, id, tier, `adminRouter: the quota '${name}'`),
        },
        adminOptions,
      );
      if (!ranking && rankStore.rank) {
        ranking = true;
        config.observers.add(rankingObserver({ rank: rankStore.rank.bind(rankStore) }, modelPrice, storeNow));
      }
      return router;
    },
    store: config.store,
  };
}
