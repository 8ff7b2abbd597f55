// token-budget: public exports only.
import './middleware/request';

export { createTokenBudget, type TokenBudget } from './middleware/budget';
export * from './public';
export type { ResponseFunctionTool, ResponseInputItem, ResponseInputPart } from './responses/input';
// The options as an Express app writes them (named here, they win over the framework-free ones of './public').
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
