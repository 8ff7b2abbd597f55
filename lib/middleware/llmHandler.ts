// llmHandler: the final step — reserve, call the model with the computed limits, settle or release.
import type { Request, RequestHandler } from 'express';
import { checkErrorOptions, checkFunction, fail, positiveInteger, type BudgetConfig } from '../config';
import { isUserAbort, upstreamRefusal } from '../upstream';
import type { LlmHandlerOptions } from '../types';
import { answerRefusal, contextHeaders, handleAsync, requireContext } from './respond';

/** Builds `budget.llmHandler({ client, respond })`. */
export function createLlmHandler(config: BudgetConfig, options: LlmHandlerOptions): RequestHandler {
  const create = options?.client?.chat?.completions?.create;
  if (typeof create !== 'function') {
    fail('TB_INVALID_OPTION', 'llmHandler needs { client }, an OpenAI client (e.g. new OpenAI()).');
  }
  const respond = checkFunction(options.respond, 'llmHandler.respond');
  const timeoutMs = options.timeoutMs === undefined ? undefined : positiveInteger(options.timeoutMs, 'llmHandler.timeoutMs');
  const errorOptions = checkErrorOptions(options, 'llmHandler', config.errorOptions);
  const completions = options.client.chat.completions;

  return handleAsync(async (req: Request, res, next) => {
    const context = requireContext(req, 'llmHandler');
    // A client that goes away aborts the upstream call; run() then releases the reservation.
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableEnded) abort.abort();
    });
    let completion: unknown;
    try {
      completion = await context.run((params) =>
        completions.create(params, timeoutMs === undefined ? { signal: abort.signal } : { signal: abort.signal, timeout: timeoutMs }),
      );
    } catch (err) {
      if (abort.signal.aborted && isUserAbort(err)) return;
      return answerRefusal(upstreamRefusal(err) ?? err, req, res, next, errorOptions);
    }
    if (abort.signal.aborted) return;
    res.set(contextHeaders(context));
    res.json(respond ? await respond(completion, req) : completion);
  });
}
