// createTokenBudget for Koa: the framework-free budget, its steps mounted as Koa middlewares.
import { createBudgetCore } from '../budget';
import { errorHandlerAnswer, refusalOf } from '../steps/errorHandler';
import { answerRefusal } from '../steps/respond';
import type { Store } from '../store/types';
import type { FeatureFlags, MetricsOptions, PrincipalId, UsageHandlerOptions, UserUsage } from '../types';
import { koaExchange, koaMiddleware } from './exchange';
import type {
  CostMeterOptions,
  FeatureBudgetOptions,
  FeatureFlagOptions,
  GlobalTpmOptions,
  KoaMiddleware,
  LlmHandlerOptions,
  QuotaOptions,
  TokenBudgetOptions,
  UserQuotaOptions,
} from './types';

/** The budgets of a Koa app: the middlewares of 'token-budget', as Koa middlewares; the context is `ctx.state.tokenBudget`. */
export interface TokenBudget {
  /** 503 `feature_disabled` while flag `name` is off; a flag never set is `options.default` (on). No store round trip. */
  featureFlag(name: string, options?: FeatureFlagOptions): KoaMiddleware;
  /** Kill switches shared by every process on the store (each process's own with the memory store). */
  readonly flags: FeatureFlags;
  /** Counts the input of feature `name`, degrades or rejects it, caps the output, declares its daily budget. */
  featureBudget(name: string, options?: FeatureBudgetOptions): KoaMiddleware;
  /** Declares the requesting user's quota for the current period: the quota named `user`. */
  userQuota(options: UserQuotaOptions): KoaMiddleware;
  /** Declares the quota `options.name` (team, organisation, API key, …) of the request's principal for the current period. */
  quota(options: QuotaOptions): KoaMiddleware;
  /** Declares a tokens-per-minute limit shared by all users and processes. */
  globalTpm(options: GlobalTpmOptions): KoaMiddleware;
  /** Declares the spend of this hour and day in nano-USD at the model's prices, with optional caps and alerts. */
  costMeter(options?: CostMeterOptions): KoaMiddleware;
  /** Reserves every declared budget, calls the model with the computed limits, settles with the real usage. */
  llmHandler(options: LlmHandlerOptions): KoaMiddleware;
  /** GET handler answering `{ used, limit, remaining, resetAt }` of the requester's quota (default: the user quota). */
  usageHandler(options?: UsageHandlerOptions): KoaMiddleware;
  /**
   * Mount it first (`app.use(budget.errorHandler())`): refusals thrown through run(), model-client
   * errors and body-parser failures thrown below it are answered as this package's JSON errors.
   */
  errorHandler(): KoaMiddleware;
  usage: {
    /** What user `id` has used and has left this period (tier default: the quota's defaultTier). */
    user(id: PrincipalId, tier?: string): Promise<UserUsage>;
    /** What principal `id` of quota `name` has used and has left this period (tier default: the quota's defaultTier). */
    quota(name: string, id: PrincipalId, tier?: string): Promise<UserUsage>;
  };
  /** Builds the encoders of every configured model now, so the first request does not pay for it (~1 s). */
  warmup(): void;
  /** Registers Prometheus metrics (prom-client, loaded now) of every request of this budget. */
  metrics(options?: MetricsOptions): void;
  /** The store every budget counts in (wrapped in the outage policies). */
  readonly store: Store;
}

/** Creates the budgets of a Koa app from its feature table and store. */
export function createTokenBudget(options: TokenBudgetOptions): TokenBudget {
  const core = createBudgetCore(options);
  const errorAnswer = errorHandlerAnswer(core.config);
  return {
    featureFlag: (name, flagOptions) => koaMiddleware(core.featureFlag(name, flagOptions)),
    flags: core.flags,
    featureBudget: (name, featureOptions) => koaMiddleware(core.featureBudget(name, featureOptions)),
    userQuota: (quotaOptions) => koaMiddleware(core.userQuota(quotaOptions)),
    quota: (quotaOptions) => koaMiddleware(core.quota(quotaOptions)),
    globalTpm: (tpmOptions) => koaMiddleware(core.globalTpm(tpmOptions)),
    costMeter: (meterOptions) => koaMiddleware(core.costMeter(meterOptions)),
    llmHandler: (handlerOptions) => koaMiddleware(core.llmHandler(handlerOptions)),
    usageHandler: (handlerOptions) => koaMiddleware(core.usageHandler(handlerOptions)),
    errorHandler: () => async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        const refusal = refusalOf(err, ctx.state.tokenBudget);
        if (!refusal) throw err;
        await answerRefusal(refusal, koaExchange(ctx), errorAnswer);
      }
    },
    usage: core.usage,
    warmup: core.warmup,
    metrics: core.metrics,
    store: core.store,
  };
}
