// How steps answer: refusals become JSON errors with the request's RateLimit headers; anything else goes to the framework.
import type { BudgetConfig } from '../config';
import type { BudgetContext } from '../context';
import type { Exchange } from '../exchange';
import { sendError, type AnswerOptions } from '../http/errors';
import { rateLimitHeaders } from '../http/headers';
import { checkErrorOptions } from '../options/check';
import { BudgetRefusal, internalError } from '../refusal';
import type { ErrorOptions } from '../types';

/** A middleware's `errors` and `onReject` (inherited from the budget's), with the budget's `warn`. */
export function readErrorOptions(config: BudgetConfig, options: ErrorOptions, path: string): AnswerOptions {
  return { ...checkErrorOptions(options, path, config.errorOptions), warn: config.warn, observers: config.observers };
}

/** The RateLimit headers of the quota and global budgets the context has seen. */
export function contextHeaders(context: BudgetContext | undefined): Record<string, string> {
  if (!context || context.scopeStates.length === 0) return {};
  return rateLimitHeaders(context.scopes, context.scopeStates, Date.now());
}

/** Answers a BudgetRefusal as configured, with the request's RateLimit headers; anything else is passed on. */
export function answerRefusal(err: unknown, exchange: Exchange, options: AnswerOptions): void | Promise<void> {
  if (!(err instanceof BudgetRefusal)) return exchange.passOn(err);
  // The refusal belongs to this request alone: its headers can take the request's figures.
  Object.assign(err.headers, contextHeaders(exchange.context));
  return sendError(err, exchange, options);
}

/** The context a declaring middleware needs; without it the route is mis-assembled: 500 internal_error, warned once. */
export function requireContext(exchange: Exchange, middleware: string): BudgetContext {
  if (!exchange.context) {
    throw internalError(
      'TB_NO_FEATURE_BUDGET',
      `${middleware} ran without budget.featureBudget(name) earlier in the route's chain; mount featureBudget first.`,
    );
  }
  return exchange.context;
}
