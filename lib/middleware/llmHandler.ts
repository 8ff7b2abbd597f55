// llmHandler: the final step — reserve, call the model once with the computed limits, settle what it cost.
import type { Request, RequestHandler } from 'express';
import type { BudgetContext } from '../context';
import { checkClientGone, checkFunction, fail, positiveInteger, type BudgetConfig } from '../config';
import { BudgetRefusal } from '../refusal';
import { callFailureRefusal } from '../upstream';
import type { LlmHandlerOptions } from '../types';
import { answerRefusal, handleAsync, readErrorOptions, requireContext } from './respond';

/** What the client is told when `run` threw: a budget's refusal, or the upstream's failure in our own words. */
function failureRefusal(err: unknown, context: BudgetContext): unknown {
  if (err instanceof BudgetRefusal) return err;
  // Thrown before any call was made: a bug, for the app's error handler.
  if (context.state !== 'settled' && context.state !== 'released') return err;
  return callFailureRefusal(err, context.stoppedBy);
}

/** Builds `budget.llmHandler({ client, respond, timeoutMs, onClientGone })`. */
export function createLlmHandler(config: BudgetConfig, options: LlmHandlerOptions): RequestHandler {
  const create = options?.client?.chat?.completions?.create;
  if (typeof create !== 'function') {
    fail('TB_INVALID_OPTION', 'llmHandler needs { client }, an OpenAI client (e.g. new OpenAI()).');
  }
  const respond = checkFunction(options.respond, 'llmHandler.respond');
  const timeoutMs = options.timeoutMs === undefined ? undefined : positiveInteger(options.timeoutMs, 'llmHandler.timeoutMs');
  const onClientGone = checkClientGone(options.onClientGone, 'llmHandler.onClientGone');
  const errorOptions = readErrorOptions(config, options, 'llmHandler');
  const completions = options.client.chat.completions;

  return handleAsync(async (req: Request, res, next) => {
    const context = requireContext(req, 'llmHandler');
    // Closed before it was answered: the client went away (read when needed, not by a listener on each response).
    const clientGone = () => res.destroyed && !res.writableEnded;
    let completion: unknown;
    try {
      completion = await context.run((params, callOptions) => completions.create(params, callOptions), {
        timeoutMs,
        onClientGone,
      });
    } catch (err) {
      if (clientGone()) return;
      return answerRefusal(failureRefusal(err, context), req, res, next, errorOptions);
    }
    if (clientGone()) return;
    res.json(respond ? await respond(completion, req) : completion);
  });
}
