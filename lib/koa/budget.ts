// createTokenBudget for Koa: the framework-free budget, its steps mounted as Koa middlewares.
import { createBudgetCore } from '../budget';
import { errorHandlerAnswer, refusalOf } from '../steps/errorHandler';
import { answerRefusal } from '../steps/respond';
import type { BudgetMiddlewares } from '../types';
import { koaExchange, koaMiddleware } from './exchange';
import type { KoaFramework, KoaMiddleware, TokenBudgetOptions } from './types';

/** The budgets of a Koa app: the middlewares of 'token-budget', as Koa middlewares; the context is `ctx.state.tokenBudget`. */
export type TokenBudget = BudgetMiddlewares<KoaFramework, KoaMiddleware>;

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
