// token-budget: public exports only.
import './middleware/request';

export { createTokenBudget, type TokenBudget } from './middleware/budget';
export { TokenBudgetConfigError, type ConfigErrorCode } from './config-error';
export { loadBudgetConfig } from './plan/file';
export { BudgetRefusal } from './refusal';
export type {
  CallOptions,
  ClientGonePolicy,
  Degradation,
  MissingUsagePolicy,
  ModelApi,
  ModelDowngrade,
  RunOptions,
  SummaryRecord,
} from './call';
export type { BudgetContext, CallMessage, CallParams, ResponseCallParams, ResponsesRunOptions, SettledCall } from './context';
export type { Usage } from './usage';
export type { ResponseFunctionTool, ResponseInputItem, ResponseInputPart } from './responses/input';
export { memoryStore, type MemoryStore, type MemoryStoreOptions } from './store/memory';
export { redisStore, type RedisStoreOptions } from './store/redis';
export type { IoRedisClient, NodeRedisClient, NodeRedisCluster, RedisClient } from './store/redis-transport';
export { StoreUnavailableError } from './store/unavailable';
// For people writing their own store (and reading a SettledCall).
export type {
  CallUsage,
  CountedElsewhere,
  FixedWindow,
  Period,
  Reservation,
  ReservedPart,
  ReserveRequest,
  ReserveResult,
  ScopeKind,
  ScopeRequest,
  ScopeState,
  SettleReport,
  SlidingWindow,
  SpendMove,
} from './store/types';
export { countTokens } from './tokens/count';
export { countChatTokens } from './tokens/chat';
export type * from './types';
// The options as an Express app writes them (they win over the framework-free ones of './types').
export type {
  AdminRouterOptions,
  CostMeterOptions,
  ErrorOptions,
  FeatureBudgetOptions,
  FeatureFlagOptions,
  FeatureOptions,
  GlobalTpmOptions,
  LlmHandlerOptions,
  MessagesSource,
  QuotaLimitOptions,
  QuotaOptions,
  RejectHandler,
  TokenBudgetOptions,
  UserQuotaOptions,
} from './middleware/types';
