// createTokenBudget for Express: the framework-free budget, its steps mounted as Express middlewares.
import type { ErrorRequestHandler, RequestHandler, Router } from 'express';
import { createAdminRouter } from '../admin/router';
import { createBudgetCore } from '../budget';
import { answerRefusal } from '../steps/respond';
import { errorHandlerAnswer, refusalOf } from '../steps/errorHandler';
import type { BudgetMiddlewares } from '../types';
import { expressExchange, expressMiddleware } from './exchange';
import type { AdminRouterOptions, ExpressFramework, TokenBudgetOptions } from './types';

/** The budgets of an Express app; the context is `req.tokenBudget`. */
export interface TokenBudget extends BudgetMiddlewares<ExpressFramework, RequestHandler, ErrorRequestHandler> {
  /**
   * The admin JSON API and the spend dashboard (mount it, e.g. `app.use('/admin', …)`);
   * every request is refused unless `authorize(req)` resolves to true.
   */
  adminRouter(options: AdminRouterOptions): Router;
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
