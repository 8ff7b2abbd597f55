// Scopes the budget-context tests declare: one period that never ends, and feature "chat"'s budget of 1000 tokens in it.
import { featureScopeKey } from '../../lib/store/keys';
import type { ScopeRequest } from '../../lib/store/types';

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
