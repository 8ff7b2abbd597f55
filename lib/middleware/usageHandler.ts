// usageHandler: a ready GET route that tells the requesting principal what its quota has left.
import type { RequestHandler } from 'express';
import { rateLimitHeaders } from '../http/headers';
import { BudgetRefusal } from '../refusal';
import { StoreUnavailableError } from '../store/unavailable';
import type { ScopeState, Store } from '../store/types';
import type { UserUsage } from '../types';
import { requestQuotaScope, type QuotaConfig } from './quota';
import { answerRefusal, handleAsync } from './respond';

/** A quota scope's state as its principal sees it. */
export function toUsage(state: ScopeState): UserUsage {
  return { used: state.used, limit: state.limit, remaining: state.remaining, resetAt: new Date(state.resetAtMs).toISOString() };
}

/** Builds `budget.usageHandler()`: `{ used, limit, remaining, resetAt }` of the requester's quota, consuming nothing. */
export function createUsageHandler(store: Store, quota: QuotaConfig): RequestHandler {
  return handleAsync(async (req, res, next) => {
    try {
      const scope = requestQuotaScope(quota, req);
      const state = await store.usage(scope).catch((err: unknown) => {
        if (err instanceof StoreUnavailableError) {
          throw new BudgetRefusal('budget_unavailable', 'Usage cannot be read right now; retry shortly.', {
            retryAfterSeconds: 1,
          });
        }
        throw err;
      });
      res.set(rateLimitHeaders([scope], [state], Date.now()));
      res.set('Cache-Control', 'no-store');
      res.json(toUsage(state));
    } catch (err) {
      answerRefusal(err, req, res, next, quota.errorOptions);
    }
  });
}
