// Refusals as http-errors objects with a JSON body, and how a middleware answers with one.
import type { NextFunction, Request, Response } from 'express';
import createError from 'http-errors';
import { BudgetRefusal, type RefusalType } from '../refusal';
import type { BudgetHttpError, ErrorBody, ErrorOptions } from '../types';

const STATUS: Record<RefusalType, number> = {
  invalid_request: 400,
  user_required: 401,
  input_too_large: 413,
  feature_quota_exceeded: 429,
  user_quota_exceeded: 429,
  global_rate_limited: 429,
  budget_unavailable: 503,
  upstream_rate_limited: 503,
  upstream_error: 502,
  upstream_timeout: 504,
};

/** The http-errors object for a refusal; `extraHeaders` are the RateLimit headers of the request. */
export function toHttpError(refusal: BudgetRefusal, extraHeaders: Record<string, string> = {}): BudgetHttpError {
  const { scope, retryAfterSeconds } = refusal.details;
  const body: ErrorBody = { type: refusal.type, message: refusal.message };
  if (scope) {
    body.scope = scope.kind;
    body.limit = scope.limit;
    body.remaining = scope.remaining;
    body.reset_at = new Date(scope.resetAtMs).toISOString();
  }
  const headers: Record<string, string> = { ...extraHeaders };
  if (retryAfterSeconds !== undefined) headers['Retry-After'] = String(retryAfterSeconds);
  return createError(STATUS[refusal.type], refusal.message, {
    type: refusal.type,
    body: { error: body },
    headers,
    expose: true,
  }) as BudgetHttpError;
}

/** Answers with the error as the middleware's options ask: `next(err)`, `onReject`, or the JSON body. */
export function sendError(
  error: BudgetHttpError,
  req: Request,
  res: Response,
  next: NextFunction,
  options: ErrorOptions,
): void {
  if (options.errors === 'next') return next(error);
  if (options.onReject) return options.onReject(error, req, res, next);
  if (res.headersSent) return;
  res.status(error.status).set(error.headers ?? {}).json(error.body);
}
