// How a refusal is answered: `next(err)`, the app's onReject (guarded), or the JSON body with its status and headers.
import type { NextFunction, Request, Response } from 'express';
import { internalError, type BudgetRefusal } from '../refusal';
import type { ErrorOptions } from '../types';
import type { Observers } from '../observers';
import type { Warn } from '../warnings';

/** How a middleware answers, as read once from its options; `warn` is the budget's. */
export interface AnswerOptions extends ErrorOptions {
  warn?: Warn;
  /** Told of every refusal answered, for metrics. */
  observers?: Observers;
}

/** Answers with the refusal as the middleware's options ask: `next(err)`, `onReject`, or the JSON body. */
export function sendError(refusal: BudgetRefusal, req: Request, res: Response, next: NextFunction, options: AnswerOptions): void {
  reportWarning(refusal, options.warn);
  options.observers?.refused(refusal, req.tokenBudget?.feature);
  if (options.errors === 'next') return next(refusal);
  if (options.onReject) return callOnReject(options.onReject, refusal, req, res, next, options.warn);
  sendJson(refusal, res, next);
}

function reportWarning(refusal: BudgetRefusal, warn: Warn | undefined): void {
  const warning = refusal.details.warning;
  if (warning) warn?.(warning.code, warning.message);
}

/** The JSON answer; a response already under way cannot take it, and Express then ends the connection. */
function sendJson(refusal: BudgetRefusal, res: Response, next: NextFunction): void {
  if (res.headersSent) return next(refusal);
  res.status(refusal.status).set(refusal.headers).json(refusal.body);
}

/** A bug in the app's own onReject (thrown, or a rejected promise) is a 500 JSON, never an HTML page or a crash. */
function callOnReject(
  onReject: NonNullable<ErrorOptions['onReject']>,
  refusal: BudgetRefusal,
  req: Request,
  res: Response,
  next: NextFunction,
  warn: Warn | undefined,
): void {
  const failed = (err: unknown): void => {
    const detail = err instanceof Error ? err.message : String(err);
    const answer = internalError(
      'TB_ON_REJECT_FAILED',
      `onReject failed while answering ${refusal.type} (${detail}); the request was answered 500 internal_error.`,
    );
    reportWarning(answer, warn);
    sendJson(answer, res, next);
  };
  try {
    const result: unknown = onReject(refusal, req, res, next);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') Promise.resolve(result).catch(failed);
  } catch (err) {
    failed(err);
  }
}
