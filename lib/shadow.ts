// Shadow mode: budgets that count real usage but never refuse, cap or degrade, and the record of what they would have done.
import { TokenBudgetConfigError } from './config-error';
import { BudgetRefusal } from './refusal';
import { affordableOutput } from './store/amounts';
import type { Reservation, ScopeRequest, ScopeState } from './store/types';
import type { BudgetMode, OnExceed, ShadowEvent } from './types';
import type { Warn } from './warnings';

/** The response header naming, comma-separated, what shadow budgets would have refused or degraded. */
export const SHADOW_HEADER = 'Token-Budget-Shadow';

/**
 * The limit a shadow scope is reserved with: no window reaches it, so the scope never
 * refuses or caps the output, yet its counter takes the reservation and its settlement
 * like any other (every token billed lands in it).
 */
const LIFTED_LIMIT = 2 ** 52;

/** Reads a `mode` option; `undefined` inherits. */
export function checkMode(value: unknown, path: string, inherited: BudgetMode): BudgetMode {
  if (value === undefined) return inherited;
  if (value === 'enforce' || value === 'shadow') return value;
  throw new TokenBudgetConfigError('TB_INVALID_OPTION', `${path} must be 'enforce' or 'shadow'; got ${JSON.stringify(value)}.`);
}

/** The scopes as sent to the store: each shadow scope (key in `shadowKeys`) with its limit lifted. */
export function liftShadowLimits(scopes: ScopeRequest[], shadowKeys: ReadonlySet<string>): ScopeRequest[] {
  if (shadowKeys.size === 0) return scopes;
  return scopes.map((scope) => (shadowKeys.has(scope.key) ? { ...scope, limit: LIFTED_LIMIT } : scope));
}

/** The states the store reported for lifted scopes, told against their real limits (headers and refusals show those). */
export function realStates(scopes: readonly ScopeRequest[], states: ScopeState[], shadowKeys: ReadonlySet<string>): ScopeState[] {
  if (shadowKeys.size === 0) return states;
  return states.map((state) => {
    const scope = shadowKeys.has(state.key) ? scopes.find((s) => s.key === state.key) : undefined;
    return scope ? { ...state, limit: scope.limit, remaining: Math.max(0, scope.limit - state.used) } : state;
  });
}

const NONE_REFUSED: readonly ScopeState[] = Object.freeze([]);

/**
 * The shadow scopes that would have refused the reservation, each as the store would
 * have reported it on refusing: its use before this reservation, against its real
 * limit. The store's own rule decides (`affordableOutput` below one output token).
 * A scope the store did not count (an outage policy that failed open) decides nothing.
 */
export function wouldRefuse(
  scopes: readonly ScopeRequest[],
  states: readonly ScopeState[],
  reservation: Reservation,
  shadowKeys: ReadonlySet<string>,
): readonly ScopeState[] {
  // Most routes have no shadow budget: no list is made for them.
  if (shadowKeys.size === 0) return NONE_REFUSED;
  const refused: ScopeState[] = [];
  for (const scope of scopes) {
    if (!shadowKeys.has(scope.key)) continue;
    const state = states.find((s) => s.key === scope.key);
    const part = reservation.parts.find((p) => p.scope.key === scope.key);
    if (!state || !part) continue;
    const before = Math.max(0, state.used - part.amount);
    if (affordableOutput(scope, before, reservation.input) < 1) {
      refused.push({ ...state, limit: scope.limit, used: before, remaining: Math.max(0, scope.limit - before) });
    }
  }
  return refused;
}

/** The event of a refusal that shadow mode did not send. */
export function refusalEvent(feature: string, refusal: BudgetRefusal): ShadowEvent {
  const { scope } = refusal.body.error;
  return {
    action: 'refuse',
    code: refusal.type,
    feature,
    ...(scope !== undefined && { scope }),
    status: refusal.status,
    message: refusal.message,
  };
}

/** What `onExceed` would have done to an input of `inputTokens`, over the feature's `maxInput`. */
export function exceedEvent(feature: { name: string; maxInput: number }, onExceed: OnExceed, inputTokens: number): ShadowEvent {
  const over = `The input has ${inputTokens} tokens; this feature accepts at most ${feature.maxInput} input tokens.`;
  if (onExceed === 'reject') return refusalEvent(feature.name, new BudgetRefusal('input_too_large', over));
  const strategy = typeof onExceed === 'function' ? 'custom' : onExceed;
  return {
    action: 'degrade',
    code: strategy,
    feature: feature.name,
    message: `${over} It would have been degraded (${strategy}).`,
  };
}

/** The `Token-Budget-Shadow` value: each code once, in the order first recorded. */
export function shadowHeaderValue(events: readonly ShadowEvent[]): string | undefined {
  if (events.length === 0) return undefined;
  return [...new Set(events.map((event) => event.code))].join(', ');
}

/** What the budget does with a shadow event by default: one warning per code (`TB_SHADOW_<CODE>`). */
export function warnShadow(warn: Warn): (event: ShadowEvent) => void {
  return (event) =>
    warn(
      `TB_SHADOW_${event.code.toUpperCase() as Uppercase<string>}`,
      `Shadow mode: a request of feature "${event.feature}" would have been ${event.action === 'refuse' ? `refused ${event.status} ${event.code}` : `degraded (${event.code})`}: ${event.message} (reported once per code; pass onShadow to see each).`,
    );
}
