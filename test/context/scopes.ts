// What the budget-context tests build on: a period that never ends, feature "chat"'s budget in it, and a context of that feature.
import { BudgetContext, type BudgetContextInit, type CallSettings } from '../../lib/context';
import { memoryStore } from '../../lib';
import { featureScopeKey } from '../../lib/store/keys';
import type { ScopeRequest } from '../../lib/store/types';
import { requireModel } from '../../lib/tokens/models';

/** A fixed window whose one period never ends: no test sees a reset. */
export const window: ScopeRequest['window'] = { kind: 'fixed', periodAt: () => ({ id: 'p', startMs: 0, endMs: 8.64e15 }) };

/** Feature "chat"'s budget: 1000 tokens. */
export const feature: ScopeRequest = {
  kind: 'feature',
  key: featureScopeKey('chat'),
  limit: 1000,
  onUnavailable: 'fail-closed',
  window,
};

/**
 * A context of feature "chat" on gpt-4o, "hi" from the user: 10 input tokens, a 50-token cap, a memory store,
 * `scopes` declared (the feature's budget unless given); `init` replaces any of these, `calls` any call setting.
 */
export function chatContext(
  init: Partial<Omit<BudgetContextInit, 'calls'>> & { calls?: Partial<CallSettings> } = {},
  scopes: readonly ScopeRequest[] = [feature],
): BudgetContext {
  const { calls, ...rest } = init;
  const context = new BudgetContext({
    feature: 'chat',
    model: 'gpt-4o',
    modelInfo: requireModel('gpt-4o'),
    messages: [{ role: 'user', content: 'hi' }],
    tools: undefined,
    inputTokens: 10,
    maxOutput: 50,
    degraded: undefined,
    forwardParams: {},
    store: memoryStore(),
    warn: () => {},
    now: Date.now,
    ...rest,
    calls: { callTimeoutMs: 60_000, leaseMarginMs: 1000, onClientGone: 'finish', onMissingUsage: 'charge', ...calls },
  });
  for (const scope of scopes) context.declare(scope);
  return context;
}
