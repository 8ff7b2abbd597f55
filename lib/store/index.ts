// token-budget/store: for people writing or wrapping a store — the Store contract, its scope and reservation types, the two stores and the Redis clients they take; public exports only.
export { memoryStore, type MemoryStore, type MemoryStoreOptions } from './memory';
export { redisStore, type RedisStoreOptions } from './redis';
export type { IoRedisClient, NodeRedisClient, NodeRedisCluster, RedisClient } from './redis-transport';
export { StoreUnavailableError } from './unavailable';
export { DEFAULT_LEASE_MS } from './types';
export type {
  CallUsage,
  CountedElsewhere,
  FixedWindow,
  FlagChange,
  FlagChannel,
  Period,
  RankedMember,
  RankIncrement,
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
  Store,
  TokenWeights,
  UnavailablePolicy,
} from './types';
