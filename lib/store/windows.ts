// Window arithmetic shared by every store: which counters a scope reads at an instant, and what they mean.
import { reservedAmountOf } from './amounts';
import type { ReserveRequest, ReserveResult, ScopeRequest, ScopeState } from './types';

/**
 * How long a fixed window's counter outlives its period, so that a call that
 * started before the period ended still finds its counter when it settles.
 */
export const SETTLE_GRACE_MS = 15 * 60_000;

/** The counters a scope is made of at one instant of the store's clock. */
export interface WindowPlan {
  /** Counters whose sum is the scope's usage, oldest first; a grant adds to the last. */
  keys: readonly string[];
  /** The plan is right for any store time in `[validFromMs, validToMs)`. */
  validFromMs: number;
  validToMs: number;
  /** When a counter created under this plan may be forgotten. */
  expiresAtMs: number;
  /** Length of one bucket (sliding windows); 0 for a fixed window. */
  bucketMs: number;
}

/**
 * The latest plan of each scope (scopes live as long as their middleware, or as a
 * quota remembers its principal): a sliding window's 61 bucket keys, or a period's
 * key, are built — and hashed by the maps that look them up — once per bucket or
 * period rather than once per request. Plans handed out are frozen.
 */
const latestPlans = new WeakMap<ScopeRequest, { prefix: string; plan: WindowPlan }>();

/** Counters of `scope` at `nowMs`, their keys starting with `prefix`. */
export function planWindow(scope: ScopeRequest, nowMs: number, prefix = ''): WindowPlan {
  const latest = latestPlans.get(scope);
  if (latest && latest.prefix === prefix && latest.plan.validFromMs <= nowMs && nowMs < latest.plan.validToMs) {
    return latest.plan;
  }
  const plan = Object.freeze(buildPlan(scope, nowMs, prefix));
  // A plan of the past (a spend history read) does not push out the current one.
  if (!latest || latest.prefix !== prefix || plan.validFromMs >= latest.plan.validFromMs)
    latestPlans.set(scope, { prefix, plan });
  return plan;
}

function buildPlan(scope: ScopeRequest, nowMs: number, prefix: string): WindowPlan {
  const { window } = scope;
  if (window.kind === 'fixed') {
    const period = window.periodAt(nowMs);
    return {
      keys: Object.freeze([`${prefix}${scope.key}:${period.id}`]),
      validFromMs: period.startMs,
      validToMs: period.endMs,
      expiresAtMs: period.endMs + SETTLE_GRACE_MS,
      bucketMs: 0,
    };
  }
  const { bucketMs } = window;
  const current = Math.floor(nowMs / bucketMs);
  // Buckets overlapping the last windowMs, the current (partial) one included.
  const span = Math.ceil(window.windowMs / bucketMs);
  const base = `${prefix}${scope.key}:`;
  const keys: string[] = [];
  for (let index = current - span; index <= current; index++) keys.push(base + index);
  return {
    keys: Object.freeze(keys),
    validFromMs: current * bucketMs,
    validToMs: (current + 1) * bucketMs,
    // The current bucket is counted until `span` more buckets have started; one spare.
    expiresAtMs: (current + span + 2) * bucketMs,
    bucketMs,
  };
}

/**
 * The state of a scope whose counters (in `plan.keys` order) hold `values`.
 * `needed` is how many tokens must leave a sliding window before the scope admits
 * what it was asked for; by default, any.
 */
export function scopeState(
  scope: ScopeRequest,
  plan: WindowPlan,
  values: readonly number[],
  nowMs: number,
  needed = 1,
): ScopeState {
  const { kind, name, key, limit } = scope;
  const used = sumOf(values);
  const remaining = Math.max(0, limit - used);
  const resetAtMs = plan.bucketMs === 0 ? plan.validToMs : slidingResetAt(plan, values, nowMs, needed);
  // Two literals, not a spread of a conditional one: V8 copies a spread object on a slow path.
  return name === undefined
    ? { kind, key, limit, used, remaining, resetAtMs }
    : { kind, name, key, limit, used, remaining, resetAtMs };
}

/** When enough of the oldest buckets have left the window to free `needed` tokens. */
function slidingResetAt(plan: WindowPlan, values: readonly number[], nowMs: number, needed: number): number {
  let freed = 0;
  for (let index = 0; index < values.length; index++) {
    freed += values[index]!;
    // The oldest bucket stops counting when the next bucket starts, each later one a bucket after.
    if (freed >= needed) return plan.validToMs + index * plan.bucketMs;
  }
  return freed === 0 ? nowMs : plan.validToMs + (values.length - 1) * plan.bucketMs;
}

/**
 * The answer to `request` once the counters are known: `values[i]` are the counters of
 * `request.scopes[i]` after the call, in `plans[i].keys` order.
 */
export function refusedResult(
  request: ReserveRequest,
  plans: readonly WindowPlan[],
  values: readonly (readonly number[])[],
  nowMs: number,
  refusedIndex: number,
): ReserveResult {
  const scopes = request.scopes.map((scope, i) => {
    if (i !== refusedIndex) return scopeState(scope, plans[i]!, values[i]!, nowMs);
    const tokensToFree = sumOf(values[i]!) + reservedAmountOf(scope, request.input, 1) - scope.limit;
    return scopeState(scope, plans[i]!, values[i]!, nowMs, tokensToFree);
  });
  return { ok: false, refused: scopes[refusedIndex]!, scopes };
}

/** As `refusedResult`, for a grant that added `amounts[i]` to the last counter of scope `i`. */
export function grantedResult(
  request: ReserveRequest,
  plans: readonly WindowPlan[],
  values: readonly (readonly number[])[],
  nowMs: number,
  outputCap: number,
  amounts: readonly number[],
  leaseId: string,
): ReserveResult {
  const parts = request.scopes.map((scope, i) => ({
    scope,
    windowKey: plans[i]!.keys[plans[i]!.keys.length - 1]!,
    amount: amounts[i]!,
  }));
  return {
    ok: true,
    reservation: { parts, leaseId, input: request.input, outputCap },
    scopes: request.scopes.map((scope, i) => scopeState(scope, plans[i]!, values[i]!, nowMs)),
  };
}

export function sumOf(values: readonly number[]): number {
  // A loop, not `reduce`: its callback is a closure made per call, twice per request.
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum;
}

/** Counters are integers (Lua and INCRBY would choke on anything else). */
export function assertTokenCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer number of tokens, got ${value}`);
  }
}
