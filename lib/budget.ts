// The framework-free budget: options read once, and the steps, flags, usage and metrics that share them; each adapter mounts it.
import { rankingObserver } from './admin/rankings';
import { withAliasPrices } from './aliases';
import { readConfig, type BudgetConfig } from './config';
import { checkOptionNames, optionNames } from './options/check';
import { createFlagCache, type FlagCache } from './flags/cache';
import { createMetrics } from './metrics/prometheus';
import { findPrice, readPrices, type NanoPrice, type PriceList } from './pricing/prices';
import { createCostMeter, readCostMeter, registerMeter, type MeterRegistry, type CostMeterConfig } from './steps/costMeter';
import { createFeatureBudget } from './steps/featureBudget';
import { createFeatureFlag } from './steps/featureFlag';
import { createGlobalTpm } from './steps/globalTpm';
import { createLlmHandler } from './steps/llmHandler';
import { createQuota, findQuota, readQuota, registerQuota, usageScope, type QuotaConfig } from './steps/quota';
import type { Step } from './steps/step';
import { createUsageHandler, toUsage } from './steps/usageHandler';
import { readUserQuota } from './steps/userQuota';
import type { Store } from './store/types';
import { warmEncoders } from './tokens/encoder';
import type {
  CostMeterOptions,
  FeatureBudgetOptions,
  FeatureFlagOptions,
  FeatureFlags,
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

/** The budget as both adapters use it: the same names as `TokenBudget`, steps where it has middlewares. */
export interface BudgetCore {
  config: BudgetConfig;
  featureFlag(name: string, options?: FeatureFlagOptions): Step;
  readonly flags: FeatureFlags;
  featureBudget(name: string, options?: FeatureBudgetOptions): Step;
  userQuota(options: UserQuotaOptions): Step;
  quota(options: QuotaOptions): Step;
  globalTpm(options: GlobalTpmOptions): Step;
  costMeter(options?: CostMeterOptions): Step;
  llmHandler(options: LlmHandlerOptions): Step;
  usageHandler(options?: UsageHandlerOptions): Step;
  usage: {
    user(id: PrincipalId, tier?: string): Promise<UserUsage>;
    quota(name: string, id: PrincipalId, tier?: string): Promise<UserUsage>;
  };
  /** What `usage.quota` reads, `what` naming the caller in a configuration error. */
  readUsage(name: string, id: PrincipalId, tier: string | undefined, what: string): Promise<UserUsage>;
  /** The meters mounted so far. */
  meters(): CostMeterConfig[];
  /** Rankings live in the app's own store: the outage wrapper around it keeps none. */
  readonly rankStore: Store;
  /** Starts ranking spenders (once), for the admin view. */
  startRanking(): void;
  /** The store's clock. */
  now(): number;
  warmup(): void;
  metrics(options?: MetricsOptions): void;
  readonly store: Store;
}

const USAGE_HANDLER_OPTION_NAMES = optionNames<UsageHandlerOptions>({ quota: true });

/** Reads the options once and builds what every adapter's middlewares share. */
export function createBudgetCore(options: TokenBudgetOptions): BudgetCore {
  const config = readConfig(options);
  let flagCache: FlagCache | undefined;
  // Made on first use, so that only apps with flags open the store's subscription.
  const flags = () => (flagCache ??= createFlagCache({ channel: options.store?.flagChannel?.(), onError: options.onStoreError }));
  const quotas = new Map<string, QuotaConfig>();
  const meters: MeterRegistry = new Map();
  let prices: PriceList | undefined;
  // Read only by apps that track money (a costMeter, metrics, the admin view).
  const priceList = () =>
    (prices ??= withAliasPrices(readPrices(options.prices, options.fallbackPrice), config.aliases, options.prices));
  const mountQuota = (quota: QuotaConfig): Step => {
    registerQuota(quotas, quota);
    return createQuota(quota);
  };
  const rankStore = options.store ?? config.store;
  const now = () => config.store.now?.() ?? Date.now();
  const priceByModel = new Map<string, NanoPrice | undefined>();
  const modelPrice = (model: string) => {
    if (!priceByModel.has(model)) priceByModel.set(model, findPrice(model, priceList())?.price);
    return priceByModel.get(model);
  };
  let ranking = false;
  const readUsage = async (name: string, id: PrincipalId, tier: string | undefined, what: string): Promise<UserUsage> =>
    toUsage(await config.store.usage(usageScope(findQuota(quotas, name, what), id, tier)));

  return {
    config,
    featureFlag: (name, flagOptions) => createFeatureFlag(config, flags(), name, flagOptions),
    flags: {
      set: (name, on) => flags().set(name, on),
      get: (name) => flags().get(name),
      list: () => flags().list(),
      close: async () => flagCache?.close(),
    },
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
      checkOptionNames(handlerOptions, USAGE_HANDLER_OPTION_NAMES, 'usageHandler');
      const name = handlerOptions?.quota ?? 'user';
      return createUsageHandler(config.store, findQuota(quotas, name, `usageHandler({ quota: '${name}' })`));
    },
    usage: {
      user: (id, tier) => readUsage('user', id, tier, 'usage.user()'),
      quota: (name, id, tier) => readUsage(name, id, tier, `usage.quota('${name}')`),
    },
    readUsage,
    meters: () => [...meters.values()].map((meter) => meter.config),
    rankStore,
    startRanking() {
      if (ranking || !rankStore.rank) return;
      ranking = true;
      config.observers.add(rankingObserver({ rank: rankStore.rank.bind(rankStore) }, modelPrice, now));
    },
    now,
    warmup() {
      warmEncoders([...new Set([...config.features.values()].map((f) => f.modelInfo.encoding))]);
    },
    metrics(metricsOptions) {
      config.observers.add(createMetrics(modelPrice, metricsOptions));
    },
    store: config.store,
  };
}
