// token-budget/koa: the same budgets as 'token-budget', as Koa middlewares (Koa 3 and 2); public exports only.
import './state';

export { createTokenBudget, type TokenBudget } from './budget';
export * from '../public';
// The options as a Koa app writes them (named here, they win over the framework-free ones of '../public').
export type {
  CostMeterOptions,
  ErrorOptions,
  FeatureBudgetOptions,
  FeatureFlagOptions,
  FeatureOptions,
  GlobalTpmOptions,
  KoaContext,
  LlmHandlerOptions,
  MessagesSource,
  QuotaLimitOptions,
  QuotaOptions,
  RejectHandler,
  TokenBudgetOptions,
  UserQuotaOptions,
} from './types';
