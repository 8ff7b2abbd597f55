// How middlewares answer: refusals become JSON errors, async failures reach next() on Express 4 and 5.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { BudgetContext } from '../context';
import { sendError, toHttpError } from '../http/errors';
import { rateLimitHeaders } from '../http/headers';
import { BudgetRefusal } from '../refusal';
import type { ErrorOptions } from '../types';

/** Express 4 ignores a rejected promise from a middleware: pass it to next() ourselves. */
export function handleAsync(
  handler: (req: Request, res: Response, next: NextFunction) => Promise<void>,
): RequestHandler {
  return (req, res, next) => {
    handler(req, res, next).catch(next);
  };
}

/** The RateLimit headers of the user and global budgets the context has seen. */
export function contextHeaders(context: BudgetContext | undefined): Record<string, string> {
  if (!context || context.scopeStates.length === 0) return {};
  return rateLimitHeaders(context.scopes, context.scopeStates, Date.now());
}

/** Answers a BudgetRefusal as configured; anything else is a bug and goes to next(err). */
export function answerRefusal(err: unknown, req: Request, res: Response, next: NextFunction, options: ErrorOptions): void {
  if (!(err instanceof BudgetRefusal)) return next(err);
  sendError(toHttpError(err, contextHeaders(req.tokenBudget)), req, res, next, options);
}

/** The context a declaring middleware needs, or a clear error naming the missing step. */
export function requireContext(req: Request, middleware: string): BudgetContext {
  if (!req.tokenBudget) {
    throw new Error(`token-budget: ${middleware} needs budget.featureBudget(name) earlier in the route's chain.`);
  }
  return req.tokenBudget;
}
