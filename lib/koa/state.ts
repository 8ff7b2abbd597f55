// Declaration merging: `ctx.state.tokenBudget` is typed on Koa's state.
import type { BudgetContext } from '../context';

declare module 'koa' {
  interface DefaultState {
    /** The budget context, set by `featureBudget` and read by the middlewares after it. */
    tokenBudget?: BudgetContext;
  }
}

export {};
