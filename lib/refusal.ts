// Why a request is not served: BudgetRefusal, an http-errors-compatible error with this package's JSON body.
import type { ScopeKind, ScopeState } from './store/types';
import type { BudgetHttpError, ErrorBody, RefusalDetails, RefusalType, WarningCode } from './types';

/** HTTP status of each `error.type`: the refusal carries it, so any http-errors-aware handler answers it right. */
const STATUS: Record<RefusalType, number> = {
  invalid_request: 400,
  user_required: 401,
  principal_required: 403,
  input_too_large: 413,
  feature_quota_exceeded: 429,
  user_quota_exceeded: 429,
  quota_exceeded: 429,
  global_rate_limited: 429,
  internal_error: 500,
  upstream_error: 502,
  budget_unavailable: 503,
  feature_disabled: 503,
  spend_cap_reached: 503,
  upstream_rate_limited: 503,
  upstream_timeout: 504,
};

/**
 * A request the budgets (or the upstream) will not serve, and why. It is an
 * http-errors error (`status`, `statusCode`, `expose`, `headers`), so Express's
 * default handler answers with its status and headers, and `budget.errorHandler()`
 * or an app's own handler can send `body` as JSON.
 */
export class BudgetRefusal extends Error implements BudgetHttpError {
  readonly type: RefusalType;
  readonly details: RefusalDetails;
  readonly status: number;
  readonly statusCode: number;
  /** Every message is written for the client: none quotes upstream text, keys or other users' figures. */
  readonly expose = true;
  /** `Retry-After` when known; the request's `RateLimit` headers are added when it is answered. */
  readonly headers: Record<string, string>;
  readonly body: { error: ErrorBody };

  constructor(type: RefusalType, message: string, details: RefusalDetails = {}) {
    super(message);
    this.name = 'BudgetRefusal';
    this.type = type;
    this.details = details;
    this.status = this.statusCode = STATUS[type];
    this.headers = details.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(details.retryAfterSeconds) };
    this.body = { error: errorBody(type, message, details) };
  }
}

function errorBody(type: RefusalType, message: string, { scope, scopeName }: RefusalDetails): ErrorBody {
  const body: ErrorBody = { type, message };
  if (!scope) {
    if (scopeName !== undefined) body.scope = scopeName;
    return body;
  }
  body.scope = scope.name ?? scope.kind;
  // A spending cap and what is left of it are the company's figures, not the client's.
  if (scope.kind !== 'spend') {
    body.limit = scope.limit;
    body.remaining = scope.remaining;
  }
  body.reset_at = new Date(scope.resetAtMs).toISOString();
  return body;
}

/** What a refused request needed of a token budget, and what that budget had left: the two figures a user compares. */
const needs = (input: number, left: number, budget: string, minOutput: number) =>
  `This request needs at least ${input + minOutput} tokens (${input} input + ${minOutput} output), and ${budget} has ${left} left.`;

const QUOTA_REFUSALS: Record<
  ScopeKind,
  { type: RefusalType; message: (name: string, input: number, left: number, minOutput: number) => string }
> = {
  feature: {
    type: 'feature_quota_exceeded',
    message: (_name, input, left, minOutput) => needs(input, left, "this feature's daily token budget", minOutput),
  },
  user: {
    type: 'user_quota_exceeded',
    message: (_name, input, left, minOutput) => needs(input, left, 'your token quota for this period', minOutput),
  },
  quota: {
    type: 'quota_exceeded',
    message: (name, input, left, minOutput) => needs(input, left, `the ${name} token quota for this period`, minOutput),
  },
  // The service's own figures are not the client's: these two say no amounts.
  global: { type: 'global_rate_limited', message: () => 'The service is at its tokens-per-minute limit; retry shortly.' },
  spend: { type: 'spend_cap_reached', message: () => 'The spending cap for this period is reached; retry after it resets.' },
};

/** The refusal for a scope that cannot afford a request of `input` prompt tokens (and one output token). */
export function quotaRefusal(scope: ScopeState, input: number, nowMs: number, minOutput = 1): BudgetRefusal {
  const { type, message } = QUOTA_REFUSALS[scope.kind];
  const retryAfterSeconds = Math.max(1, Math.ceil((scope.resetAtMs - nowMs) / 1000));
  return new BudgetRefusal(type, message(scope.name ?? scope.kind, input, scope.remaining, minOutput), {
    scope,
    retryAfterSeconds,
  });
}

/** The answer to a request the app's own setup cannot serve; `code` and `message` go to the server's log only. */
export function internalError(code: WarningCode, message: string): BudgetRefusal {
  return new BudgetRefusal('internal_error', 'This request cannot be served because of a server configuration error.', {
    warning: { code, message },
  });
}
