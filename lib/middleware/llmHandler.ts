// llmHandler: the final step — reserve, call the model with the computed limits, settle or release.
import type { Request, RequestHandler } from 'express';
import { checkErrorOptions, checkFunction, fail, positiveInteger, type BudgetConfig } from '../config';
import { BudgetRefusal } from '../refusal';
import { upstreamRefusal } from '../upstream';
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
    // One signal for both ends: a client that goes away, and our own deadline. We
    // keep the reason ourselves because SDK error classes differ across versions.
    const abort = new AbortController();
    let reason: 'client-gone' | 'timeout' | undefined;
    const stop = (why: typeof reason) => {
      reason ??= why;
      abort.abort();
    };
    res.once('close', () => {
      if (!res.writableEnded) stop('client-gone');
    });
    // The deadline is the upstream's: it starts once the reservation is taken.
    let timer: NodeJS.Timeout | undefined;
    let completion: unknown;
    try {
      completion = await context.run((params) => {
        if (timeoutMs !== undefined) timer = setTimeout(() => stop('timeout'), timeoutMs);
        return completions.create(params, { signal: abort.signal });
      });
    } catch (err) {
      if (reason === 'client-gone') return;
      const refusal =
        reason === 'timeout' ? new BudgetRefusal('upstream_timeout', 'The model provider did not answer in time.') : upstreamRefusal(err);
      return answerRefusal(refusal ?? err, req, res, next, errorOptions);
    } finally {
      clearTimeout(timer);
    }
    if (reason === 'client-gone') return;
    res.set(contextHeaders(context));
    res.json(respond ? await respond(completion, req) : completion);
  });
}
