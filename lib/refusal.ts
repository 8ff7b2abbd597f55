// Why a request is not served: the core's refusals, mapped to HTTP only in http/errors.ts.
import type { ScopeKind, ScopeState } from './store/types';

/** The `error.type` values this package answers with. */
export type RefusalType =
  | 'invalid_request'
  | 'input_too_large'
  | 'feature_quota_exceeded'
  | 'user_quota_exceeded'
  | 'user_required'
  | 'global_rate_limited'
  | 'budget_unavailable'
  | 'upstream_rate_limited'
  | 'upstream_error'
  | 'upstream_timeout';

export interface RefusalDetails {
  /** The budget that refused, with its figures (only the requester's own). */
  scope?: ScopeState;
  /** Seconds after which a retry may succeed, when known. */
  retryAfterSeconds?: number;
}

/** A request the budgets (or the upstream) will not serve, and why. */
export class BudgetRefusal extends Error {
  readonly type: RefusalType;
  readonly details: RefusalDetails;

  constructor(type: RefusalType, message: string, details: RefusalDetails = {}) {
    super(message);
    this.name = 'BudgetRefusal';
    this.type = type;
    this.details = details;
  }
}

const QUOTA_REFUSALS: Record<ScopeKind, { type: RefusalType; message: string }> = {
  feature: { type: 'feature_quota_exceeded', message: "This feature's daily token budget is used up." },
  user: { type: 'user_quota_exceeded', message: 'Your token quota for this period is used up.' },
  global: { type: 'global_rate_limited', message: 'The service is at its tokens-per-minute limit; retry shortly.' },
};

/** The refusal for a scope that cannot afford the request. */
export function quotaRefusal(scope: ScopeState, nowMs: number): BudgetRefusal {
  const { type, message } = QUOTA_REFUSALS[scope.kind];
  const retryAfterSeconds = Math.max(1, Math.ceil((scope.resetAtMs - nowMs) / 1000));
  return new BudgetRefusal(type, message, { scope, retryAfterSeconds });
}
