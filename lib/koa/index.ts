// token-budget/koa: the same budgets as 'token-budget', as Koa middlewares (Koa 3 and 2); public exports only.
import './state';

export { createTokenBudget, type TokenBudget } from './budget';
export { TokenBudgetConfigError, type ConfigErrorCode } from '../config-error';
export { loadBudgetConfig } from '../plan/file';
export { BudgetRefusal } from '../refusal';
export type {
  CallOptions,
  ClientGonePolicy,
  Degradation,
  MissingUsagePolicy,
  ModelApi,
  ModelDowngrade,
  RunOptions,
  SummaryRecord,
} from '../call';
export type { BudgetContext, CallMessage, CallParams, ResponseCallParams, ResponsesRunOptions, SettledCall } from '../context';
export type { Usage } from '../usage';
export { memoryStore, type MemoryStore, type MemoryStoreOptions } from '../store/memory';
export { redisStore, type RedisStoreOptions } from '../store/redis';
export { StoreUnavailableError } from '../store/unavailable';
export { countTokens } from '../tokens/count';
export { countChatTokens } from '../tokens/chat';
export type * from '../types';
// The options as a Koa app writes them (they win over the framework-free ones of '../types').
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
