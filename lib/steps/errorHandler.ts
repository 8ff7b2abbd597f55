// errorHandler: which errors thrown past the routes (refusals through run(), model-client errors, body-parser failures) become this package's JSON errors.
import type { BudgetConfig } from '../config';
import type { BudgetContext } from '../context';
import type { AnswerOptions } from '../http/errors';
import { BudgetRefusal } from '../refusal';
import type { RefusalType } from '../types';
import { callFailureRefusal, isModelClientError } from '../upstream';

const NOT_JSON: [RefusalType, string] = ['invalid_request', 'The request body is not valid JSON.'];

/** body-parser's (and raw-body's) error `type` → what the client is told. */
const BODY_ERRORS = new Map<string, [RefusalType, string]>([
  ['entity.parse.failed', NOT_JSON],
  ['entity.too.large', ['input_too_large', 'The request body is larger than this server accepts.']],
  ['encoding.unsupported', ['invalid_request', 'The request body has an unsupported encoding.']],
  ['charset.unsupported', ['invalid_request', 'The request body has an unsupported charset.']],
  ['request.size.invalid', ['invalid_request', 'The request body does not match its Content-Length.']],
  ['request.aborted', ['invalid_request', 'The request body was not sent completely.']],
]);

/** What the body parsers attach to the errors they throw. */
interface ParserError {
  status?: unknown;
  type?: unknown;
  errno?: unknown;
  code?: unknown;
  body?: unknown;
}

/**
 * A body whose stream failed: a decompression error (gzip that is not gzip) passed on as the
 * zlib error itself, with an `errno` and no `type`: body-parser (Express) sets status 400,
 * @koa/bodyparser none; without a budget context yet, no budget ran, so the body parser threw it.
 */
function isUnreadableBody(err: ParserError, context: BudgetContext | undefined): boolean {
  if (err.type !== undefined || typeof err.errno !== 'number') return false;
  return err.status === 400 || (context === undefined && typeof err.code === 'string' && err.code.startsWith('Z_'));
}

/** @koa/bodyparser's (co-body's) bad JSON: `JSON.parse`'s SyntaxError with status 400 and the text it read. */
function isUnparsableJson(err: ParserError): boolean {
  return err instanceof SyntaxError && err.status === 400 && 'body' in err;
}

/** The refusal an error thrown past the routes is answered with; `undefined` leaves it to the app's own error handlers. */
export function refusalOf(err: unknown, context: BudgetContext | undefined): BudgetRefusal | undefined {
  if (err instanceof BudgetRefusal) return err;
  if (typeof err !== 'object' || err === null) return undefined;
  if (isModelClientError(err)) return callFailureRefusal(err, context?.stoppedBy);
  const known = BODY_ERRORS.get(String((err as ParserError).type)) ?? (isUnparsableJson(err) ? NOT_JSON : undefined);
  if (known) return new BudgetRefusal(...known);
  if (isUnreadableBody(err, context))
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
