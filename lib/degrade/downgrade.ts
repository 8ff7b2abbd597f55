// Downgrade: a feature's call goes to a cheaper model when a budget it is counted in runs low.
import { NANOS_PER_USD } from '../alerts/money';
import { NO_CAP } from '../alerts/spend-scopes';
import type { ChatMessage, ToolDefinition } from '../messages';
import type { ScopeRequest, ScopeState, Store } from '../store/types';
import type { ModelInfo } from '../tokens/models';
import { countPrompt, promptCounter } from '../tokens/prompt';
import { runSliced } from '../tokens/slice';
import type { DowngradeWhen, ShadowEvent } from '../types';
import type { DowngradeStep } from './options';
import type { ModelDowngrade } from '../call';

/** The response header naming the model a downgraded call went to. */
export const DOWNGRADE_HEADER = 'Token-Budget-Downgrade';

/** A budget that ran low, and the rule it triggers. */
export interface LowBudget {
  step: DowngradeStep;
  state: ScopeState;
}

/** Whether `state` of `scope` has less left than `when` says; the global TPM and uncapped meters never run low. */
function runsLow(when: DowngradeWhen, scope: ScopeRequest, state: ScopeState): boolean {
  if (scope.kind === 'global' || scope.limit >= NO_CAP) return false;
  const { remaining, limit } = state;
  if (when.remainingBelow !== undefined && remaining < when.remainingBelow * limit) return true;
  if (scope.weights) return when.remainingUsdBelow !== undefined && remaining < when.remainingUsdBelow * NANOS_PER_USD;
  return when.remainingTokensBelow !== undefined && remaining < when.remainingTokensBelow;
}

/** The first rule whose condition holds of a scope, as `states` (paired by key) show it. */
export function lowBudget(steps: readonly DowngradeStep[], scopes: readonly ScopeRequest[], states: readonly ScopeState[]) {
  for (const step of steps) {
    for (const scope of scopes) {
      const state = states.find((s) => s.key === scope.key);
      if (state && runsLow(step.when, scope, state)) return { step, state };
    }
  }
  return undefined;
}

/**
 * Reads what the scopes have left and finds the rule that applies. A store that cannot
 * be read downgrades nothing: the reservation that follows applies the outage policies.
 */
export async function findLowBudget(
  store: Store,
  scopes: readonly ScopeRequest[],
  steps: readonly DowngradeStep[],
): Promise<LowBudget | undefined> {
  let states: ScopeState[];
  try {
    states = await Promise.all(scopes.filter((scope) => scope.kind !== 'global').map((scope) => store.usage(scope)));
  } catch {
    return undefined;
  }
  return lowBudget(steps, scopes, states);
}

/** The prompt tokens of a request as `modelInfo` counts them (its encoding and framing), counted whole. */
export async function countWith(
  modelInfo: ModelInfo,
  messages: readonly ChatMessage[],
  tools: ToolDefinition[] | undefined,
  forwardParams: Record<string, unknown>,
): Promise<number> {
  const counter = await runSliced((slice) => promptCounter(modelInfo, tools, forwardParams, Infinity, slice));
  return runSliced((slice) => countPrompt(messages, counter, Infinity, slice));
}

/** The record of a downgrade. */
export function modelDowngrade(from: string, { step, state }: LowBudget): ModelDowngrade {
  return { from, to: step.model, scope: state.name ?? state.kind, remaining: state.remaining, limit: state.limit };
}

/** What a downgrade in shadow mode would have done. */
export function downgradeEvent(feature: string, downgrade: ModelDowngrade): ShadowEvent {
  return {
    action: 'degrade',
    code: 'downgrade',
    feature,
    scope: downgrade.scope,
    message: `The ${downgrade.scope} budget had ${downgrade.remaining} of ${downgrade.limit} left: the call would have gone to ${downgrade.to} instead of ${downgrade.from}.`,
  };
}
