// The public option types bound to Koa: the app's callbacks receive `ctx`, and so does `onReject`.
import type { Middleware, ParameterizedContext } from 'koa';
import type * as Core from '../types';

/** The Koa context the middlewares see. */
export type KoaContext = ParameterizedContext;

/**
 * Called instead of sending the JSON error, so an app can shape its own response
 * (set `ctx.status` and `ctx.body`, or throw).
 */
export type RejectHandler = (error: Core.BudgetHttpError, ctx: KoaContext) => void | Promise<void>;

/** Koa as the options see it. */
export interface KoaFramework extends Core.Framework {
  request: KoaContext;
  onReject: RejectHandler;
}

export type KoaMiddleware = Middleware;
export type ErrorOptions = Core.ErrorOptions<KoaFramework>;
export type MessagesSource = Core.MessagesSource<KoaFramework>;
export type FeatureOptions = Core.FeatureOptions<KoaFramework>;
export type TokenBudgetOptions = Core.TokenBudgetOptions<KoaFramework>;
export type FeatureBudgetOptions = Core.FeatureBudgetOptions<KoaFramework>;
export type QuotaLimitOptions = Core.QuotaLimitOptions<KoaFramework>;
export type UserQuotaOptions = Core.UserQuotaOptions<KoaFramework>;
export type QuotaOptions = Core.QuotaOptions<KoaFramework>;
export type GlobalTpmOptions = Core.GlobalTpmOptions<KoaFramework>;
export type LlmHandlerOptions = Core.LlmHandlerOptions<KoaFramework>;
export type FeatureFlagOptions = Core.FeatureFlagOptions<KoaFramework>;
export type CostMeterOptions = Core.CostMeterOptions<KoaFramework>;
