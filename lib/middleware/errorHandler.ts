// errorHandler: body-parser failures (malformed or oversized JSON) as this package's JSON errors.
import type { ErrorRequestHandler } from 'express';
import { sendError, toHttpError } from '../http/errors';
import { BudgetRefusal, type RefusalType } from '../refusal';
import type { ErrorOptions } from '../types';

/** body-parser's error `type` → what the client is told. */
const BODY_ERRORS: Record<string, [RefusalType, string]> = {
  'entity.parse.failed': ['invalid_request', 'The request body is not valid JSON.'],
  'entity.too.large': ['input_too_large', 'The request body is larger than this server accepts.'],
  'encoding.unsupported': ['invalid_request', 'The request body has an unsupported encoding.'],
  'charset.unsupported': ['invalid_request', 'The request body has an unsupported charset.'],
};

/**
 * Mount after the routes: express.json() rejects bad bodies before any budget runs,
 * and Express would answer them with an HTML page.
 */
export function createErrorHandler(errorOptions: ErrorOptions): ErrorRequestHandler {
  return (err, req, res, next) => {
    const known = BODY_ERRORS[String((err as { type?: unknown } | null)?.type)];
    if (!known) return next(err);
    const refusal = new BudgetRefusal(known[0], known[1]);
    sendError(toHttpError(refusal), req, res, next, { ...errorOptions, errors: 'respond' });
  };
}
