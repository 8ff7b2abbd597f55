// The framework-free public exports: the same from 'token-budget' and 'token-budget/koa', each entry adding its own framework's.
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
// The stores, and all a store is made of: for people writing or wrapping one (and reading a SettledCall).
export * from './store/index';
export { countTokens } from './tokens/count';
export { countChatTokens } from './tokens/chat';
export type * from './types';
