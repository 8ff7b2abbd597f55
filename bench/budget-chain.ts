// The route both overhead benches measure: featureBudget, userQuota, globalTpm and llmHandler, on one feature.
import type { RequestHandler } from 'express';
import type { LlmHandlerOptions, TokenBudget } from '../lib';

/** One feature, with limits no bench request comes near. */
export const BENCH_FEATURES = { chat: { maxInput: 8000, maxOutput: 200, model: 'gpt-4o' } };

/** The four middlewares of the measured route, on `budget` (built from any version of lib/ with BENCH_FEATURES). */
export function benchChain(budget: TokenBudget, client: LlmHandlerOptions['client']): RequestHandler[] {
  return [
    budget.featureBudget('chat'),
    budget.userQuota({ user: (req) => req.get('x-user'), limits: 1e12 }),
    budget.globalTpm({ limit: 1e12 }),
    budget.llmHandler({ client }),
  ];
}
