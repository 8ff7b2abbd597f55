// Declaration merging: `req.tokenBudget` is typed on Express's Request.
import type { BudgetContext } from '../context';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The budget context, set by `featureBudget` and read by the middlewares after it. */
      tokenBudget?: BudgetContext;
    }
  }
}

export {};
