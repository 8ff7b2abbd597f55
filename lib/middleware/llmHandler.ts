// llmHandler: the final step — reserve, call the model once with the computed limits, settle what it cost.
import type { Request, RequestHandler, Response } from 'express';
import type { BudgetContext } from '../context';
import { checkClientGone, checkFunction, checkStreamPolicy, fail, positiveInteger, type BudgetConfig } from '../config';
import { endWithErrorEvent, writeEvent, writeEventStreamHead } from '../http/sse';
import { BudgetRefusal } from '../refusal';
import { callFailureRefusal } from '../upstream';
import type { ChatCompletionsClient, LlmHandlerOptions } from '../types';
import { answerRefusal, handleAsync, readErrorOptions, requireContext } from './respond';

/** What the client is told when `run` threw: a budget's refusal, or the upstream's failure in our own words. */
function failureRefusal(err: unknown, context: BudgetContext): unknown {
  if (err instanceof BudgetRefusal) return err;
  // Thrown before any call was made: a bug, for the app's error handler.
  if (context.state !== 'settled' && context.state !== 'released') return err;
  return callFailureRefusal(err, context.stoppedBy);
}

/** A chunk that carries nothing but the usage: `choices` empty, `usage` set. */
const isUsageChunk = (chunk: { choices?: unknown; usage?: unknown }) =>
  Array.isArray(chunk.choices) && chunk.choices.length === 0 && typeof chunk.usage === 'object' && chunk.usage !== null;

/** Whether the client asked for the usage chunk (`stream_options.include_usage`); upstream it is always asked for. */
function wantsUsageChunk(body: unknown): boolean {
  const streamOptions = (body as { stream_options?: { include_usage?: unknown } } | undefined)?.stream_options;
  return streamOptions?.include_usage === true;
}

/**
 * Streams the completion to the client as server-sent events, chunk for chunk; the
 * stream's head carries the headers set from the reservation. After the head, an upstream
 * failure ends the stream with an `error` event.
 */
async function streamCompletion(
  completions: ChatCompletionsClient['chat']['completions'],
  context: BudgetContext,
  req: Request,
  res: Response,
  timeoutMs: number | undefined,
): Promise<void> {
  const clientGone = () => res.destroyed && !res.writableEnded;
  const chunks = await context.runStream<{ choices?: unknown; usage?: unknown }>(
    (params, callOptions) =>
      completions.create({ ...params, stream: true, stream_options: { include_usage: true } }, callOptions) as PromiseLike<
        AsyncIterable<{ choices?: unknown; usage?: unknown }>
      >,
    { timeoutMs },
  );
  const passUsage = wantsUsageChunk(req.body);
  writeEventStreamHead(res);
  try {
    for await (const chunk of chunks) {
      // Leaving the loop stops the stream upstream and charges what it streamed.
      if (clientGone()) break;
      if (!passUsage && isUsageChunk(chunk)) continue;
      writeEvent(res, JSON.stringify(chunk));
    }
  } catch (err) {
    if (!clientGone()) endWithErrorEvent(res, callFailureRefusal(err, context.stoppedBy));
    return;
  }
  if (clientGone()) return;
  writeEvent(res, '[DONE]');
  res.end();
}

/** Builds `budget.llmHandler({ client, respond, timeoutMs, onClientGone, stream })`. */
export function createLlmHandler(config: BudgetConfig, options: LlmHandlerOptions): RequestHandler {
  const create = options?.client?.chat?.completions?.create;
  if (typeof create !== 'function') {
    fail('TB_INVALID_OPTION', 'llmHandler needs { client }, an OpenAI client (e.g. new OpenAI()).');
  }
  const respond = checkFunction(options.respond, 'llmHandler.respond');
  const timeoutMs = options.timeoutMs === undefined ? undefined : positiveInteger(options.timeoutMs, 'llmHandler.timeoutMs');
  const onClientGone = checkClientGone(options.onClientGone, 'llmHandler.onClientGone');
  const streams = checkStreamPolicy(options.stream, 'llmHandler.stream');
  const errorOptions = readErrorOptions(config, options, 'llmHandler');
  const completions = options.client.chat.completions;
  // An AzureOpenAI client built with `deployment` sends every call there, whatever model the body names.
  const { deploymentName } = options.client as { deploymentName?: unknown };
  const boundDeployment = typeof deploymentName === 'string' && deploymentName !== '' ? deploymentName : undefined;

  return handleAsync(async (req: Request, res, next) => {
    const context = requireContext(req, 'llmHandler');
    if (boundDeployment !== undefined && boundDeployment !== context.model) {
      config.warn(
        'TB_CLIENT_DEPLOYMENT',
        `llmHandler's client is bound to the Azure deployment "${boundDeployment}", so feature "${context.feature}" calls it, not its model "${context.model}", which it is counted and priced as; build the client without \`deployment\`, or name the deployment as the feature's model (an alias in models).`,
      );
    }
    // Closed before it was answered: the client went away (read when needed, not by a listener on each response).
    const clientGone = () => res.destroyed && !res.writableEnded;
    const streamed = (req.body as { stream?: unknown } | undefined)?.stream === true;
    if (streamed && streams === 'forbid') {
      const refusal = new BudgetRefusal('invalid_request', 'Streaming ("stream": true) is not supported on this route.');
      return answerRefusal(refusal, req, res, next, errorOptions);
    }
    let completion: unknown;
    try {
      if (streamed) return await streamCompletion(completions, context, req, res, timeoutMs);
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
