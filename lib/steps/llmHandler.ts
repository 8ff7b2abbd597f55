// llmHandler: the final step — reserve, call the model once with the computed limits, settle what it cost.
import type { ServerResponse } from 'node:http';
import type { CallOptions, ModelApi } from '../call';
import type { BudgetContext } from '../context';
import type { BudgetConfig } from '../config';
import {
  checkApi,
  checkClientGone,
  checkFunction,
  checkOptionNames,
  checkStreamPolicy,
  fail,
  optionNames,
  positiveInteger,
} from '../options/check';
import type { Exchange } from '../exchange';
import { endWithErrorEvent, writeEvent, writeEventStreamHead } from '../http/sse';
import { BudgetRefusal, internalError } from '../refusal';
import { callFailureRefusal } from '../upstream';
import type { ChatCompletionsClient, LlmHandlerOptions } from '../types';
import { readErrorOptions, requireContext } from './respond';
import type { Step } from './step';

/** One `create` of the client: chat completions' or the Responses API's. */
type Create = (body: Record<string, unknown>, options?: CallOptions) => PromiseLike<unknown>;

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

/** A Responses event that reports the upstream's failure: its text is never passed on. */
const isFailureEvent = (type: unknown) => type === 'error' || type === 'response.failed';

/** How one API's stream is asked for and written as server-sent events. */
interface StreamFormat {
  /** The upstream body's streaming fields. */
  streamParams: Record<string, unknown>;
  /** Writes one chunk; false when the chunk reports a failure (the stream then ends with an error event). */
  write(res: ServerResponse, chunk: Record<string, unknown>): boolean;
  /** What ends a stream that ran to its end. */
  end(res: ServerResponse): void;
}

/** Chat completions: `data:` chunks, the usage chunk only when asked for, then `[DONE]`. */
function chatFormat(body: unknown): StreamFormat {
  const passUsage = wantsUsageChunk(body);
  return {
    streamParams: { stream: true, stream_options: { include_usage: true } },
    write: (res, chunk) => {
      if (passUsage || !isUsageChunk(chunk)) writeEvent(res, JSON.stringify(chunk));
      return true;
    },
    end: (res) => {
      writeEvent(res, '[DONE]');
      res.end();
    },
  };
}

/** The Responses API: each event named by its `type` (usage in `response.completed`), no `[DONE]`. */
const responsesFormat: StreamFormat = {
  streamParams: { stream: true },
  write: (res, event) => {
    if (isFailureEvent(event.type)) return false;
    writeEvent(res, JSON.stringify(event), String(event.type));
    return true;
  },
  end: (res) => res.end(),
};

/** The refusal a failure mid-stream is told as: its time-out, or a failure event of the Responses API (an upstream error), or what was thrown. */
const midStreamFailure = (err: unknown, context: BudgetContext) =>
  err === undefined && context.stoppedBy !== 'timeout'
    ? new BudgetRefusal('upstream_error', 'The model provider failed while streaming the answer.')
    : callFailureRefusal(err, context.stoppedBy);

/**
 * Streams the answer to the client as server-sent events in the API's format, chunk for
 * chunk; the stream's head carries the headers set from the reservation. After the head,
 * an upstream failure ends the stream with an `error` event.
 */
async function streamAnswer(
  create: Create,
  api: ModelApi,
  context: BudgetContext,
  exchange: Exchange,
  timeoutMs: number | undefined,
): Promise<void> {
  const { res } = exchange;
  const clientGone = () => res.destroyed && !res.writableEnded;
  const format = api === 'responses' ? responsesFormat : chatFormat(exchange.body);
  const call = (params: object, callOptions: CallOptions) =>
    create({ ...params, ...format.streamParams }, callOptions) as PromiseLike<AsyncIterable<Record<string, unknown>>>;
  const chunks =
    api === 'responses' ? await context.runStream(call, { timeoutMs, api }) : await context.runStream(call, { timeoutMs });
  exchange.takeOver();
  writeEventStreamHead(res);
  let failed = false;
  let failure: unknown;
  try {
    for await (const chunk of chunks) {
      // Leaving the loop stops the stream upstream and charges what it streamed.
      if (clientGone()) break;
      // After a failure event, the rest is read to its end (settled as generated), not written.
      if (!failed) failed = !format.write(res, chunk);
    }
  } catch (err) {
    failed = true;
    failure = err;
  }
  if (clientGone()) return;
  // Stopped by its time-out: the SDK ends the stream silently, as if it were complete.
  if (context.stoppedBy === 'timeout') failed = true;
  if (failed) endWithErrorEvent(res, midStreamFailure(failure, context));
  else format.end(res);
}

/** Whether the client has a `create` for `api`; a client without the Responses API cannot serve its routes. */
function hasCreate(client: ChatCompletionsClient, api: ModelApi): boolean {
  const endpoint = api === 'responses' ? client.responses : client.chat.completions;
  return typeof endpoint?.create === 'function';
}

const LLM_HANDLER_OPTION_NAMES = optionNames<LlmHandlerOptions>({
  client: true,
  respond: true,
  timeoutMs: true,
  onClientGone: true,
  stream: true,
  api: true,
  errors: true,
  onReject: true,
});

/** Builds `budget.llmHandler({ client, respond, timeoutMs, onClientGone, stream, api })`. */
export function createLlmHandler(config: BudgetConfig, options: LlmHandlerOptions): Step {
  if (typeof options?.client?.chat?.completions?.create !== 'function') {
    fail('TB_INVALID_OPTION', 'llmHandler needs { client }, an OpenAI client (e.g. new OpenAI()).');
  }
  checkOptionNames(options, LLM_HANDLER_OPTION_NAMES, 'llmHandler');
  const respond = checkFunction(options.respond, 'llmHandler.respond');
  const timeoutMs = options.timeoutMs === undefined ? undefined : positiveInteger(options.timeoutMs, 'llmHandler.timeoutMs');
  const onClientGone = checkClientGone(options.onClientGone, 'llmHandler.onClientGone');
  const streams = checkStreamPolicy(options.stream, 'llmHandler.stream');
  const routeApi = checkApi(options.api, 'llmHandler.api');
  if (routeApi === 'responses' && !hasCreate(options.client, 'responses')) {
    fail('TB_INVALID_OPTION', "llmHandler({ api: 'responses' }) needs a client with responses.create (openai 5 or later).");
  }
  const { client } = options;
  // An AzureOpenAI client built with `deployment` sends every call there, whatever model the body names.
  const { deploymentName } = client as { deploymentName?: unknown };
  const boundDeployment = typeof deploymentName === 'string' && deploymentName !== '' ? deploymentName : undefined;

  // The same for every request: built once, not per call. The client's method is looked up
  // at each call, so that one wrapped after the handler was built is the one called.
  const creates: Record<ModelApi, Create> = {
    chat: (body, callOptions) => client.chat.completions.create(body, callOptions),
    responses: (body, callOptions) => client.responses!.create(body, callOptions),
  };
  const chatRunOptions = { timeoutMs, onClientGone };
  const responsesRunOptions = { timeoutMs, onClientGone, api: 'responses' as const };

  return { run, answer: readErrorOptions(config, options, 'llmHandler'), ends: true };

  async function run(exchange: Exchange): Promise<void> {
    const context = requireContext(exchange, 'llmHandler');
    if (boundDeployment !== undefined && boundDeployment !== context.model) {
      config.warn(
        'TB_CLIENT_DEPLOYMENT',
        `llmHandler's client is bound to the Azure deployment "${boundDeployment}", so feature "${context.feature}" calls it, not its model "${context.model}", which it is counted and priced as; build the client without \`deployment\`, or name the deployment as the feature's model (an alias in models).`,
      );
    }
    const api = routeApi ?? context.api;
    if (!hasCreate(client, api)) {
      throw internalError(
        'TB_NO_RESPONSES_API',
        "llmHandler received a Responses API request (input) but its client has no responses.create; use openai 5 or later, or set api: 'chat'.",
      );
    }
    // Closed before it was answered: the client went away (read when needed, not by a listener on each response).
    const { res } = exchange;
    const clientGone = () => res.destroyed && !res.writableEnded;
    const { stream } = (exchange.body ?? {}) as { stream?: unknown };
    // As the API does: "yes" is no answer to whether to stream, and is not read as false.
    if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
      throw new BudgetRefusal('invalid_request', '"stream" must be true or false.');
    }
    const streamed = stream === true;
    if (streamed && streams === 'forbid') {
      throw new BudgetRefusal('invalid_request', 'Streaming ("stream": true) is not supported on this route.');
    }
    let answer: unknown;
    try {
      if (streamed) return await streamAnswer(creates[api], api, context, exchange, timeoutMs);
      answer =
        api === 'responses'
          ? await context.run(creates.responses, responsesRunOptions)
          : await context.run(creates.chat, chatRunOptions);
    } catch (err) {
      if (clientGone()) return;
      throw failureRefusal(err, context);
    }
    if (clientGone()) return;
    exchange.sendJson(200, {}, respond ? await respond(answer, exchange.request) : answer);
  }
}
