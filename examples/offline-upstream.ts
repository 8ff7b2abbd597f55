// An offline OpenAI-compatible upstream: a real HTTP server speaking chat completions, deterministic replies, staged failures.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { countChatTokens, countTokens } from '../lib';
import { lookupModel } from '../lib/tokens/models';

/** One chat-completions request as the upstream received it. */
export interface UpstreamRequest {
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
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
 */
export type UpstreamBehaviour =
  | { kind: 'reply' }
  | { kind: 'error'; status: number; headers?: Record<string, string>; message?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'no-usage'; toolCall?: StagedToolCall }
  | { kind: 'garbled' }
  | { kind: 'reset'; when: 'before-headers' | 'after-headers' }
  | { kind: 'hang' };

/** How an exchange ended, seen from the upstream. */
export type UpstreamOutcome = 'pending' | 'answered' | 'reset' | 'client-gone';

/** What the upstream received, generated and billed for one request. */
export interface UpstreamCall {
  request: UpstreamRequest;
  behaviour: UpstreamBehaviour;
  /** Prompt tokens of the request, counted like the provider (messages and tools). */
  promptTokens: number;
  /** The output cap it was sent (`max_completion_tokens` or `max_tokens`), if any. */
  cap: number | undefined;
  /**
   * Completion tokens generated, counted with the model's encoding (text, tool-call names
   * and arguments); 0 when nothing was generated (error, hang, reset before the headers).
   */
  completionTokens: number;
  /** What it billed (prompt + generated) when it generated a completion, reported or not. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** The end user it was told about: `safety_identifier`, else `user`. */
  userId: string | undefined;
  /** The body's `user` field as received. */
  bodyUser: string | undefined;
  outcome: UpstreamOutcome;
  /** Resolves when the exchange is over (answered, reset, or the client left). */
  ended: Promise<void>;
}

export interface OfflineUpstreamOptions {
  /** Decides per request what to do. @default always reply */
  behave?: (request: UpstreamRequest) => UpstreamBehaviour;
  /** Completion tokens to generate, at most the request's cap. @default min(cap, 24) */
  completionTokens?: (request: UpstreamRequest, cap: number) => number;
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

/** Starts the upstream on a free loopback port. */
export async function startOfflineUpstream(options: OfflineUpstreamOptions = {}): Promise<OfflineUpstream> {
  const calls: UpstreamCall[] = [];

  const answer = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (req.method !== 'POST' || !/\/chat\/completions$/.test(req.url ?? '')) {
      return sendJson(res, 404, { error: { message: 'Not found', type: 'invalid_request_error' } });
    }
    const body = await readJson(req);
    if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
      return sendJson(res, 400, { error: { message: 'model and messages are required', type: 'invalid_request_error' } });
    }
    const request: UpstreamRequest = { body, headers: req.headers };
    const model = countingModel(body.model);
    const sentCap = Number(body.max_completion_tokens ?? body.max_tokens);
    const call: UpstreamCall = {
      request,
      behaviour: options.behave?.(request) ?? { kind: 'reply' },
      promptTokens: countChatTokens(body.messages as never, {
        model,
        ...(Array.isArray(body.tools) ? { tools: body.tools as never } : {}),
      }),
      cap: Number.isFinite(sentCap) ? sentCap : undefined,
      completionTokens: 0,
      userId: stringField(body.safety_identifier) ?? stringField(body.user),
      bodyUser: stringField(body.user),
      outcome: 'pending',
      ended: new Promise<void>((resolve) =>
        res.once('close', () => {
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

    const cap = call.cap ?? DEFAULT_CAP;
    const generated = Math.min(cap, options.completionTokens?.(request, cap) ?? Math.min(cap, 24));
    const toolCall = behaviour.kind === 'no-usage' ? behaviour.toolCall : undefined;
    const content = toolCall ? null : replyOfTokens(generated);
    const message: Record<string, unknown> = { role: 'assistant', content, refusal: null };
    if (toolCall) {
      message.tool_calls = [{ id: `call_offline_${calls.length}`, type: 'function', function: toolCall }];
      call.completionTokens = countTokens(toolCall.name, model) + countTokens(toolCall.arguments, model);
    } else {
      call.completionTokens = countTokens(content ?? '', model);
    }
    call.usage = {
      prompt_tokens: call.promptTokens,
      completion_tokens: call.completionTokens,
      total_tokens: call.promptTokens + call.completionTokens,
    };
    const reply = completionBody(
      `chatcmpl-offline-${calls.length}`,
      body.model,
      message,
      toolCall ? 'tool_calls' : generated >= cap ? 'length' : 'stop',
    );
    const text = JSON.stringify(behaviour.kind === 'no-usage' ? reply : { ...reply, usage: call.usage });

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
