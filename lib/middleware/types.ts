// The public option types bound to Express: the app's callbacks receive `req`, `onReject` answers with `res`.
import type { NextFunction, Request, Response } from 'express';
import type * as Core from '../types';

/**
 * Called instead of sending the JSON error, so an app can shape its own response.
 * It must answer the request (or call `next`).
 */
export type RejectHandler = (error: Core.BudgetHttpError, req: Request, res: Response, next: NextFunction) => void;

/** Express as the options see it. */
export interface ExpressFramework extends Core.Framework {
  request: Request;
  onReject: RejectHandler;
}

export type ErrorOptions = Core.ErrorOptions<ExpressFramework>;
export type MessagesSource = Core.MessagesSource<ExpressFramework>;
export type FeatureOptions = Core.FeatureOptions<ExpressFramework>;
export type TokenBudgetOptions = Core.TokenBudgetOptions<ExpressFramework>;
export type FeatureBudgetOptions = Core.FeatureBudgetOptions<ExpressFramework>;
export type QuotaLimitOptions = Core.QuotaLimitOptions<ExpressFramework>;
export type UserQuotaOptions = Core.UserQuotaOptions<ExpressFramework>;
export type QuotaOptions = Core.QuotaOptions<ExpressFramework>;
export type GlobalTpmOptions = Core.GlobalTpmOptions<ExpressFramework>;
export type LlmHandlerOptions = Core.LlmHandlerOptions<ExpressFramework>;
export type FeatureFlagOptions = Core.FeatureFlagOptions<ExpressFramework>;
export type CostMeterOptions = Core.CostMeterOptions<ExpressFramework>;
export type AdminRouterOptions = Core.AdminRouterOptions<ExpressFramework>;
