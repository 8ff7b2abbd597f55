// errorHandler: which errors thrown past the routes (refusals through run(), model-client errors, body-parser failures) become this package's JSON errors.
import type { BudgetConfig } from '../config';
import type { BudgetContext } from '../context';
import type { AnswerOptions } from '../http/errors';
import { BudgetRefusal } from '../refusal';
import type { RefusalType } from '../types';
import { callFailureRefusal, isModelClientError } from '../upstream';

/** body-parser's error `type` → what the client is told. */
const BODY_ERRORS = new Map<string, [RefusalType, string]>([
  ['entity.parse.failed', ['invalid_request', 'The request body is not valid JSON.']],
  ['entity.too.large', ['input_too_large', 'The request body is larger than this server accepts.']],
  ['encoding.unsupported', ['invalid_request', 'The request body has an unsupported encoding.']],
  ['charset.unsupported', ['invalid_request', 'The request body has an unsupported charset.']],
  ['request.size.invalid', ['invalid_request', 'The request body does not match its Content-Length.']],
  ['request.aborted', ['invalid_request', 'The request body was not sent completely.']],
]);

/**
 * A body whose stream failed: body-parser passes a decompression error (gzip that is
 * not gzip) on as the zlib error itself, with status 400, an `errno` and no `type`.
 */
function isUnreadableBody(err: { status?: unknown; type?: unknown; errno?: unknown }): boolean {
  return err.status === 400 && err.type === undefined && typeof err.errno === 'number';
}

/** The refusal an error thrown past the routes is answered with; `undefined` leaves it to the app's own error handlers. */
export function refusalOf(err: unknown, context: BudgetContext | undefined): BudgetRefusal | undefined {
  if (err instanceof BudgetRefusal) return err;
  if (typeof err !== 'object' || err === null) return undefined;
  if (isModelClientError(err)) return callFailureRefusal(err, context?.stoppedBy);
  const known = BODY_ERRORS.get(String((err as { type?: unknown }).type));
  if (known) return new BudgetRefusal(...known);
  if (isUnreadableBody(err))
    return new BudgetRefusal('invalid_request', 'The request body could not be read; check its Content-Encoding.');
  return undefined;
}

/**
 * How `budget.errorHandler()` answers, mounted after the routes: the body parser rejects bad bodies
 * before any budget runs, a custom handler's run() throws refusals and SDK errors, and the
 * framework would answer them all with an HTML page or plain text. It always responds.
 */
export function errorHandlerAnswer(config: BudgetConfig): AnswerOptions {
  return { ...config.errorOptions, errors: 'respond', warn: config.warn, observers: config.observers };
}
