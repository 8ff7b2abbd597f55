// How middlewares answer: refusals become JSON errors, async failures reach next() on Express 4 and 5.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { checkErrorOptions, type BudgetConfig } from '../config';
import type { BudgetContext } from '../context';
import { sendError, type AnswerOptions } from '../http/errors';
import { rateLimitHeaders } from '../http/headers';
import { BudgetRefusal, internalError } from '../refusal';
import type { ErrorOptions } from '../types';

/** A middleware's `errors` and `onReject` (inherited from the budget's), with the budget's `warn`. */
export function readErrorOptions(config: BudgetConfig, options: ErrorOptions, path: string): AnswerOptions {
  return { ...checkErrorOptions(options, path, config.errorOptions), warn: config.warn, observers: config.observers };
}

/** Express 4 ignores a rejected promise from a middleware: pass it to next() ourselves. */
export function handleAsync(handler: (req: Request, res: Response, next: NextFunction) => Promise<void>): RequestHandler {
  return (req, res, next) => {
    handler(req, res, next).catch(next);
  };
}

/** The RateLimit headers of the quota and global budgets the context has seen. */
export function contextHeaders(context: BudgetContext | undefined): Record<string, string> {
  if (!context || context.scopeStates.length === 0) return {};
  return rateLimitHeaders(context.scopes, context.scopeStates, Date.now());
}

/** Answers a BudgetRefusal as configured, with the request's RateLimit headers; anything else goes to next(err). */
export function answerRefusal(err: unknown, req: Request, res: Response, next: NextFunction, options: AnswerOptions): void {
  if (!(err instanceof BudgetRefusal)) return next(err);
  // The refusal belongs to this request alone: its headers can take the request's figures.
  Object.assign(err.headers, contextHeaders(req.tokenBudget));
  sendError(err, req, res, next, options);
}

/** The context a declaring middleware needs; without it the route is mis-assembled: 500 internal_error, warned once. */
export function requireContext(req: Request, middleware: string): BudgetContext {
  if (!req.tokenBudget) {
    throw internalError(
      'TB_NO_FEATURE_BUDGET',
      `${middleware} ran without budget.featureBudget(name) earlier in the route's chain; mount featureBudget first.`,
    );
  }
  return req.tokenBudget;
}
