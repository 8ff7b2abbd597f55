// An offline OpenAI-compatible upstream: a real HTTP server speaking chat completions and the Responses API (streamed or not), deterministic replies, staged failures.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { countChatTokens, countTokens } from '../lib';
import { lookupModel } from '../lib/tokens/models';
import { readResponsesRequest } from '../lib/responses/request';
import { outputItem, responseBody, ResponsesEvents, responsesUsage } from './offline-responses';

/** One request as the upstream received it. */
export interface UpstreamRequest {
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** The endpoint: `/chat/completions`, or `/responses` (the Responses API). */
  api: 'chat' | 'responses';
}

/** A tool call the upstream puts in its reply instead of text. */
export interface StagedToolCall {
  name: string;
  arguments: string;
}

/**
 * What the upstream does with one request:
 * - `reply`: 200 with the completion and its `usage`;
 * - `delay`: the same after `ms` (nothing is sent if the client left meanwhile);
 * - `error`: an HTTP error status (nothing generated, as a provider bills nothing);
 * - `no-usage`: 200 without `usage` (text, or a tool call when `toolCall` is given);
 * - `garbled`: 200 whose JSON body is cut short (the completion was generated);
 * - `reset`: the connection is reset before the headers, or after them with the body cut (generated);
 * - `hang`: never answers; the exchange ends when the client gives up.
 * A request with `"stream": true` is answered as server-sent events, one token per chunk
 * (`reply` and `no-usage` alike: `no-usage` ignores `stream_options.include_usage`, and
 * sends `response.completed` with `usage: null` on `/responses`), and:
 * - `stream-cut`: the connection is reset after `afterTokens` tokens were sent;
 * - `stream-error`: an `error` event after `afterTokens` tokens, then the end (`/responses`:
 *   the API's own `error` event, `{ type: 'error', code, message }`).
 */
export type UpstreamBehaviour =
  | { kind: 'reply'; toolCall?: StagedToolCall }
  | { kind: 'error'; status: number; headers?: Record<string, string>; message?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'no-usage'; toolCall?: StagedToolCall }
  | { kind: 'garbled' }
  | { kind: 'reset'; when: 'before-headers' | 'after-headers' }
  | { kind: 'hang' }
  | { kind: 'stream-cut'; afterTokens: number }
  | { kind: 'stream-error'; afterTokens: number };

/** How an exchange ended, seen from the upstream. */
export type UpstreamOutcome = 'pending' | 'answered' | 'reset' | 'client-gone';

/** What the upstream received, generated and billed for one request. */
export interface UpstreamCall {
  request: UpstreamRequest;
  behaviour: UpstreamBehaviour;
  /** Prompt tokens of the request, counted like the provider (messages and tools; `/responses`: input, instructions and tools). */
  promptTokens: number;
  /** The output cap it was sent (`max_completion_tokens`, `max_tokens` or `max_output_tokens`), if any. */
  cap: number | undefined;
  /**
   * Completion tokens generated, counted with the model's encoding (text, tool-call names
   * and arguments, and hidden reasoning tokens); 0 when nothing was generated (error, hang,
   * reset before the headers).
   */
  completionTokens: number;
  /** Hidden reasoning tokens generated before the visible output (part of `completionTokens`). */
  reasoningTokens: number;
  /** What it billed (prompt + generated) when it generated a completion, reported or not. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** The end user it was told about: `safety_identifier`, else `user`. */
  userId: string | undefined;
  /** The body's `user` field as received. */
  bodyUser: string | undefined;
  outcome: UpstreamOutcome;
  /** A streamed reply: output tokens written to the connection so far (what the provider bills if it stops now). */
  sentTokens: number;
  /** A staged `stream-cut` or `stream-error` happened (a reply shorter than `afterTokens` ends normally). */
  failedMidStream: boolean;
  /** `performance.now()` when the connection closed (a stream aborted by its client shows when). */
  closedAt: number | undefined;
  /** Resolves when the exchange is over (answered, reset, or the client left). */
  ended: Promise<void>;
}

export interface OfflineUpstreamOptions {
  /** Decides per request what to do. @default always reply */
  behave?: (request: UpstreamRequest) => UpstreamBehaviour;
  /** Completion tokens to generate, at most the request's cap. @default min(cap, 24) */
  completionTokens?: (request: UpstreamRequest, cap: number) => number;
  /** Pause between two chunks of a streamed reply, ms. @default 0 */
  chunkIntervalMs?: number;
  /**
   * Hidden reasoning tokens generated (and billed as output) before the visible reply, at
   * most the cap; the visible reply gets what the cap leaves. @default 0
   */
  reasoningTokens?: (request: UpstreamRequest) => number;
}

export interface OfflineUpstream {
  /** Base URL for the openai SDK, e.g. `http://127.0.0.1:PORT/v1`. */
  baseURL: string;
  /** Every request received, in order. */
  calls: UpstreamCall[];
  /** Total tokens billed across all calls that generated a completion. */
  billedTokens(): number;
  /** Resolves once every call received so far has ended. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const COUNT_MODEL_FALLBACK = 'gpt-4o';
/** The cap a request without one gets. */
const DEFAULT_CAP = 4096;

/** Counts with the request's model when it is known, else as gpt-4o. */
const countingModel = (model: string): string => (lookupModel(model) ? model : COUNT_MODEL_FALLBACK);

/** "ok ok ok …": each repetition is one token in both encodings, so the reply has exactly `n` tokens. */
function replyOfTokens(n: number): string {
  return n <= 0 ? '' : 'ok' + ' ok'.repeat(n - 1);
}

const stringField = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The chat.completion body of a generated reply. */
function completionBody(id: string, model: string, message: Record<string, unknown>, finishReason: string) {
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
  };
}

/** One `chat.completion.chunk` event of a streamed reply. */
function chunkEvent(call: UpstreamCall, choices: unknown[], usage?: unknown): string {
  const chunk = {
    id: 'chatcmpl-offline-stream',
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: call.request.body.model,
    choices,
    ...(usage ? { usage } : {}),
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** Pieces of a streamed reply, each with its tokens: one token of text each, or a tool call's arguments in slices of 8 characters. */
function replyPieces(generated: number, toolCall: StagedToolCall | undefined, model: string): [string, number][] {
  if (!toolCall) return Array.from({ length: generated }, (_, i) => [i === 0 ? 'ok' : ' ok', 1]);
  const pieces: [string, number][] = [];
  for (let at = 0; at < toolCall.arguments.length; at += 8) {
    const piece = toolCall.arguments.slice(at, at + 8);
    pieces.push([piece, countTokens(piece, model)]);
  }
  return pieces;
}

/** How one API's stream is written: its head, one event per generated piece, its end, a failure. */
interface StreamWire {
  /** Writes the head; returns the output tokens it carried (a function call's name on `/responses`). */
  head(): number;
  /** Events that carry generated output, each with its tokens, written one at a time. */
  deltas: [write: () => void, tokens: number][];
  finish(): void;
  error(): void;
}

/** What a streamed reply is made of: its connection, its call, the visible tokens generated, a tool call instead of text. */
interface StreamedReply {
  res: http.ServerResponse;
  call: UpstreamCall;
  generated: number;
  toolCall: StagedToolCall | undefined;
  /** The model counted with. */
  model: string;
}

/** The chat-completions stream: `data:` chunks, a usage chunk when asked for, `[DONE]`. */
function chatWire({ res, call, generated, toolCall, model }: StreamedReply): StreamWire {
  const write = (choices: unknown[], usage?: unknown) => res.write(chunkEvent(call, choices, usage));
  const writeDelta = (delta: unknown) => write([{ index: 0, delta, logprobs: null, finish_reason: null }]);
  const pieces = replyPieces(generated, toolCall, model);
  const deltas: StreamWire['deltas'] = toolCall
    ? [
        [
          () =>
            writeDelta({
              tool_calls: [{ index: 0, id: 'call_offline', type: 'function', function: { name: toolCall.name, arguments: '' } }],
            }),
          countTokens(toolCall.name, model),
        ],
        ...pieces.map(([piece, tokens]): [() => void, number] => [
          () => writeDelta({ tool_calls: [{ index: 0, function: { arguments: piece } }] }),
          tokens,
        ]),
      ]
    : pieces.map(([piece, tokens]) => [() => writeDelta({ content: piece }), tokens]);
  return {
    head: () => {
      writeDelta({ role: 'assistant', content: '' });
      return 0;
    },
    deltas,
    finish: () => {
      const finish = toolCall ? 'tool_calls' : generated >= (call.cap ?? DEFAULT_CAP) - call.reasoningTokens ? 'length' : 'stop';
      write([{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]);
      const streamOptions = call.request.body.stream_options as { include_usage?: unknown } | undefined;
      if (call.behaviour.kind !== 'no-usage' && streamOptions?.include_usage === true) write([], chatUsage(call));
      res.end('data: [DONE]\n\n');
    },
    error: () => {
      res.write(
        `event: error\ndata: ${JSON.stringify({ error: { message: 'staged failure mid-stream', type: 'server_error' } })}\n\n`,
      );
      res.end();
    },
  };
}

/** The Responses API stream: named events, usage in `response.completed`, no `[DONE]`. */
function responsesWire({ res, call, generated, toolCall, model }: StreamedReply): StreamWire {
  const events = new ResponsesEvents((text) => res.write(text), 'resp_offline_stream', call.request.body.model, toolCall);
  const pieces = replyPieces(generated, toolCall, model);
  return {
    head: () => {
      events.head();
      return toolCall ? countTokens(toolCall.name, model) : 0;
    },
    deltas: pieces.map(([piece, tokens]) => [() => events.delta(piece), tokens]),
    finish: () => {
      const text = toolCall ? '' : replyOfTokens(generated);
      const status = !toolCall && generated >= (call.cap ?? DEFAULT_CAP) - call.reasoningTokens ? 'incomplete' : 'completed';
      events.finish(text, status, call.behaviour.kind === 'no-usage' ? null : wireUsage(call));
      res.end();
    },
    error: () => {
      events.error();
      res.end();
    },
  };
}

/**
 * Answers as server-sent events, pausing `intervalMs` between chunks, and records what
 * it sent: a stream stopped early (cut, failed, or left by its client) bills what was sent
 * (and the reasoning tokens generated before it).
 */
async function streamReply(res: http.ServerResponse, call: UpstreamCall, wire: StreamWire, intervalMs: number): Promise<void> {
  const { behaviour } = call;
  const stopAfter = behaviour.kind === 'stream-cut' || behaviour.kind === 'stream-error' ? behaviour.afterTokens : Infinity;
  const bill = () => {
    call.completionTokens = call.reasoningTokens + call.sentTokens;
    call.usage = {
      prompt_tokens: call.promptTokens,
      completion_tokens: call.completionTokens,
      total_tokens: call.promptTokens + call.completionTokens,
    };
  };
  // A client that leaves is billed by the time its exchange is seen to end.
  res.once('close', bill);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  call.sentTokens += wire.head();
  for (const [writeDelta, tokens] of wire.deltas) {
    if (intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
    else await new Promise((resolve) => setImmediate(resolve));
    if (res.destroyed) return bill();
    if (call.sentTokens >= stopAfter) {
      bill();
      call.failedMidStream = true;
      if (behaviour.kind === 'stream-cut') {
        call.outcome = 'reset';
        res.socket?.resetAndDestroy();
        return;
      }
      return wire.error();
    }
    writeDelta();
    call.sentTokens += tokens;
  }
  bill();
  wire.finish();
}

/** The bill as chat completions report it (reasoning tokens in its details, when there were any). */
const chatUsage = (call: UpstreamCall) =>
  call.reasoningTokens > 0
    ? { ...call.usage!, completion_tokens_details: { reasoning_tokens: call.reasoningTokens } }
    : call.usage;

/** The bill as the Responses API reports it. */
const wireUsage = (call: UpstreamCall) => responsesUsage(call.promptTokens, call.completionTokens, call.reasoningTokens);

/** Prompt tokens of a request as the provider counts them; a Responses body is read as the messages it stands for. */
function countPromptTokens(request: UpstreamRequest, model: string): number {
  const { body } = request;
  if (request.api === 'chat') {
    return countChatTokens(body.messages as never, {
      model,
      ...(Array.isArray(body.tools) ? { tools: body.tools as never } : {}),
    });
  }
  const { messages, tools } = readResponsesRequest(body, Infinity);
  return countChatTokens(messages, { model, ...(tools ? { tools } : {}) });
}

/** Starts the upstream on a free loopback port. */
export async function startOfflineUpstream(options: OfflineUpstreamOptions = {}): Promise<OfflineUpstream> {
  const calls: UpstreamCall[] = [];

  const answer = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const api = /\/chat\/completions$/.test(req.url ?? '')
      ? 'chat'
      : /\/responses$/.test(req.url ?? '')
        ? 'responses'
        : undefined;
    if (req.method !== 'POST' || !api) {
      return sendJson(res, 404, { error: { message: 'Not found', type: 'invalid_request_error' } });
    }
    const body = await readJson(req);
    const prompt = api === 'chat' ? body?.messages : body?.input;
    if (
      !body ||
      typeof body.model !== 'string' ||
      !(Array.isArray(prompt) || (api === 'responses' && typeof prompt === 'string'))
    ) {
      const message = api === 'chat' ? 'model and messages are required' : 'model and input are required';
      return sendJson(res, 400, { error: { message, type: 'invalid_request_error' } });
    }
    const request: UpstreamRequest = { body, headers: req.headers, api };
    const model = countingModel(body.model);
    const sentCap = Number(body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens);
    const cap = Number.isFinite(sentCap) ? sentCap : undefined;
    const call: UpstreamCall = {
      request,
      behaviour: options.behave?.(request) ?? { kind: 'reply' },
      promptTokens: countPromptTokens(request, model),
      cap,
      completionTokens: 0,
      reasoningTokens: Math.min(cap ?? DEFAULT_CAP, options.reasoningTokens?.(request) ?? 0),
      userId: stringField(body.safety_identifier) ?? stringField(body.user),
      bodyUser: stringField(body.user),
      outcome: 'pending',
      sentTokens: 0,
      failedMidStream: false,
      closedAt: undefined,
      ended: new Promise<void>((resolve) =>
        res.once('close', () => {
          call.closedAt = performance.now();
          if (call.outcome === 'pending') call.outcome = res.writableFinished ? 'answered' : 'client-gone';
          resolve();
        }),
      ),
    };
    calls.push(call);
    const { behaviour } = call;

    if (behaviour.kind === 'error') {
      const error = { message: behaviour.message ?? `staged failure ${behaviour.status}`, type: 'server_error' };
      return sendJson(res, behaviour.status, { error }, behaviour.headers);
    }
    if (behaviour.kind === 'hang') return;
    if (behaviour.kind === 'reset' && behaviour.when === 'before-headers') {
      call.outcome = 'reset';
      req.socket.resetAndDestroy();
      return;
    }
    if (behaviour.kind === 'delay') {
      // A client that leaves ends the wait: no timer outlives its exchange (or the server).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, behaviour.ms);
        res.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (res.destroyed) return;
    }

    // Reasoning comes first: the visible reply gets what the cap leaves.
    const visibleCap = (cap ?? DEFAULT_CAP) - call.reasoningTokens;
    const generated = Math.min(visibleCap, options.completionTokens?.(request, visibleCap) ?? Math.min(visibleCap, 24));
    const toolCall = behaviour.kind === 'no-usage' || behaviour.kind === 'reply' ? behaviour.toolCall : undefined;
    if (body.stream === true) {
      const wire = (api === 'chat' ? chatWire : responsesWire)({ res, call, generated, toolCall, model });
      return streamReply(res, call, wire, options.chunkIntervalMs ?? 0);
    }
    const content = toolCall ? null : replyOfTokens(generated);
    const visible = toolCall
      ? countTokens(toolCall.name, model) + countTokens(toolCall.arguments, model)
      : countTokens(content ?? '', model);
    call.completionTokens = call.reasoningTokens + visible;
    call.usage = {
      prompt_tokens: call.promptTokens,
      completion_tokens: call.completionTokens,
      total_tokens: call.promptTokens + call.completionTokens,
    };
    const cut = !toolCall && generated >= visibleCap;
    let reply: Record<string, unknown>;
    if (api === 'responses') {
      const usage = behaviour.kind === 'no-usage' ? null : wireUsage(call);
      const output = [outputItem(content ?? '', toolCall, 'completed')];
      reply = responseBody(`resp_offline_${calls.length}`, body.model, output, cut ? 'incomplete' : 'completed', usage);
    } else {
      const message: Record<string, unknown> = { role: 'assistant', content, refusal: null };
      if (toolCall) message.tool_calls = [{ id: `call_offline_${calls.length}`, type: 'function', function: toolCall }];
      const finish = toolCall ? 'tool_calls' : cut ? 'length' : 'stop';
      reply = completionBody(`chatcmpl-offline-${calls.length}`, body.model, message, finish);
      if (behaviour.kind !== 'no-usage') reply.usage = chatUsage(call);
    }
    const text = JSON.stringify(reply);

    if (behaviour.kind === 'garbled') {
      // A well-framed HTTP body whose JSON stops half-way.
      const cut = text.slice(0, Math.floor(text.length / 2));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(cut)) });
      return void res.end(cut);
    }
    if (behaviour.kind === 'reset') {
      // The headers announce the whole body; half of it is sent, then the connection is reset.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      res.write(text.slice(0, Math.floor(text.length / 2)), () => {
        call.outcome = 'reset';
        res.socket?.resetAndDestroy();
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  };

  const server = http.createServer((req, res) => {
    answer(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(err), type: 'server_error' } });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    calls,
    billedTokens: () => calls.reduce((sum, c) => sum + (c.usage?.total_tokens ?? 0), 0),
    idle: async () => {
      for (let seen = 0; seen < calls.length;) {
        const pending = calls.slice(seen);
        seen = calls.length;
        await Promise.all(pending.map((call) => call.ended));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
