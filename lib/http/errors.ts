// How a refusal is answered: passed on to the framework, the app's onReject (guarded), or the JSON body with its status and headers.
import type { Exchange } from '../exchange';
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

/** Answers with the refusal as the middleware's options ask: passed on, `onReject`, or the JSON body. */
export function sendError(refusal: BudgetRefusal, exchange: Exchange, options: AnswerOptions): void | Promise<void> {
  reportWarning(refusal, options.warn);
  options.observers?.refused(refusal, exchange.context?.feature);
  if (options.errors === 'next') return exchange.passOn(refusal);
  if (options.onReject) return callOnReject(options.onReject, refusal, exchange, options.warn);
  sendJson(refusal, exchange);
}

function reportWarning(refusal: BudgetRefusal, warn: Warn | undefined): void {
  const warning = refusal.details.warning;
  if (warning) warn?.(warning.code, warning.message);
}

/**
 * The JSON answer. A response already under way cannot take it: it is cut, so that its client sees it fail rather
 * than wait (Express's final handler would cut it too, Koa would leave it open), and the refusal is passed on.
 */
function sendJson(refusal: BudgetRefusal, exchange: Exchange): void {
  if (exchange.headersSent) {
    exchange.res.destroy();
    return exchange.passOn(refusal);
  }
  exchange.sendJson(refusal.status, refusal.headers, refusal.body);
}

/** A bug in the app's own onReject (thrown, or a rejected promise) is a 500 JSON, never an HTML page or a crash. */
function callOnReject(
  onReject: unknown,
  refusal: BudgetRefusal,
  exchange: Exchange,
  warn: Warn | undefined,
): void | Promise<void> {
  const failed = (err: unknown): void => {
    const detail = err instanceof Error ? err.message : String(err);
    const answer = internalError(
      'TB_ON_REJECT_FAILED',
      `onReject failed while answering ${refusal.type} (${detail}); the request was answered 500 internal_error.`,
    );
    reportWarning(answer, warn);
    sendJson(answer, exchange);
  };
  try {
    const result: unknown = exchange.callOnReject(onReject, refusal);
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
      return Promise.resolve(result).then(() => undefined, failed);
  } catch (err) {
    failed(err);
  }
}
