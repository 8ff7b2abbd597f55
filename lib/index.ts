// token-budget: public exports only.
import './middleware/request';

export { createTokenBudget, type TokenBudget } from './budget';
export { TokenBudgetConfigError, type ConfigErrorCode } from './config-error';
export { loadBudgetConfig } from './plan/file';
export { BudgetRefusal } from './refusal';
export type {
  BudgetContext,
  CallMessage,
  CallOptions,
  CallParams,
  ClientGonePolicy,
  MissingUsagePolicy,
  Degradation,
  ModelApi,
  ModelDowngrade,
  ResponseCallParams,
  ResponsesRunOptions,
  RunOptions,
  SettledCall,
  Usage,
} from './context';
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
