// createTokenBudget for Express: the framework-free budget, its steps mounted as Express middlewares.
import type { ErrorRequestHandler, RequestHandler, Router } from 'express';
import { createAdminRouter } from '../admin/router';
import { createBudgetCore } from '../budget';
import { answerRefusal } from '../steps/respond';
import { errorHandlerAnswer, refusalOf } from '../steps/errorHandler';
import type { FeatureFlags, MetricsOptions, PrincipalId, UsageHandlerOptions, UserUsage } from '../types';
import { expressExchange, expressMiddleware } from './exchange';
import type {
  AdminRouterOptions,
  CostMeterOptions,
  FeatureBudgetOptions,
  FeatureFlagOptions,
  GlobalTpmOptions,
  LlmHandlerOptions,
  QuotaOptions,
  TokenBudgetOptions,
  UserQuotaOptions,
} from './types';
import type { Store } from '../store/types';

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
  const core = createBudgetCore(options);
  const { config } = core;
  const errorAnswer = errorHandlerAnswer(config);
  return {
    featureFlag: (name, flagOptions) => expressMiddleware(core.featureFlag(name, flagOptions)),
    flags: core.flags,
    featureBudget: (name, featureOptions) => expressMiddleware(core.featureBudget(name, featureOptions)),
    userQuota: (quotaOptions) => expressMiddleware(core.userQuota(quotaOptions)),
    quota: (quotaOptions) => expressMiddleware(core.quota(quotaOptions)),
    globalTpm: (tpmOptions) => expressMiddleware(core.globalTpm(tpmOptions)),
    costMeter: (meterOptions) => expressMiddleware(core.costMeter(meterOptions)),
    llmHandler: (handlerOptions) => expressMiddleware(core.llmHandler(handlerOptions)),
    usageHandler: (handlerOptions) => expressMiddleware(core.usageHandler(handlerOptions)),
    errorHandler: () => (err, req, res, next) => {
      const refusal = refusalOf(err, req.tokenBudget);
      if (!refusal) return next(err);
      void answerRefusal(refusal, expressExchange(req, res, next), errorAnswer);
    },
    usage: core.usage,
    warmup: core.warmup,
    metrics: core.metrics,
    adminRouter(adminOptions) {
      const router = createAdminRouter(
        config,
        {
          store: core.rankStore,
          now: core.now,
          features: [...config.features.keys()],
          flags: core.flags,
          meters: core.meters,
          usage: (name, id, tier) => core.readUsage(name, id, tier, `adminRouter: the quota '${name}'`),
        },
        adminOptions,
      );
      core.startRanking();
      return router;
    },
    store: core.store,
  };
}
