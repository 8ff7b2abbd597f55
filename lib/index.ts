// token-budget: public exports only.
import './middleware/request';

export { createTokenBudget, type TokenBudget } from './budget';
export { TokenBudgetConfigError, type ConfigErrorCode } from './config-error';
export type { BudgetContext, Degradation, Usage, CallParams } from './context';
export { memoryStore } from './store/memory';
export { redisStore } from './store/redis';
export { StoreUnavailableError } from './store/unavailable';
export type { Reservation, ReserveRequest, ReserveResult, ScopeRequest, ScopeState } from './store/types';
export { countTokens } from './tokens/count';
export { countChatTokens } from './tokens/chat';
export type * from './types';
