// usageHandler: a ready GET route that tells the requesting principal what its quota has left.
import type { Exchange } from '../exchange';
import { rateLimitHeaders } from '../http/headers';
import { BudgetRefusal } from '../refusal';
import { StoreUnavailableError } from '../store/unavailable';
import type { ScopeState, Store } from '../store/types';
import type { UserUsage } from '../types';
import { requestQuotaScope, type QuotaConfig } from './quota';
import type { Step } from './step';

/** A quota scope's state as its principal sees it. */
export function toUsage(state: ScopeState): UserUsage {
  return { used: state.used, limit: state.limit, remaining: state.remaining, resetAt: new Date(state.resetAtMs).toISOString() };
}

/** Builds `budget.usageHandler()`: `{ used, limit, remaining, resetAt }` of the requester's quota, consuming nothing. */
export function createUsageHandler(store: Store, quota: QuotaConfig): Step {
  return { run, answer: quota.errorOptions, ends: true };

  async function run(exchange: Exchange): Promise<void> {
    const scope = requestQuotaScope(quota, exchange.request);
    const state = await store.usage(scope).catch((err: unknown) => {
      if (err instanceof StoreUnavailableError) {
        throw new BudgetRefusal('budget_unavailable', 'Usage cannot be read right now; retry shortly.', {
          retryAfterSeconds: 1,
        });
      }
      throw err;
    });
    const headers = { ...rateLimitHeaders([scope], [state], Date.now()), 'Cache-Control': 'no-store' };
    exchange.sendJson(200, headers, toUsage(state));
  }
}
