// An offline OpenAI-compatible upstream: a real HTTP server speaking chat completions, deterministic replies.
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

/** What the upstream answered for one request: usage it billed, or a failure it staged. */
export interface UpstreamCall {
  request: UpstreamRequest;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** A staged failure: an HTTP error, or a delay before answering normally. */
export type UpstreamBehaviour =
  | { kind: 'reply' }
  | { kind: 'error'; status: number; headers?: Record<string, string>; message?: string }
  | { kind: 'delay'; ms: number };

export interface OfflineUpstreamOptions {
  /** Decides per request what to do. @default always reply */
  behave?: (request: UpstreamRequest) => UpstreamBehaviour;
  /** Completion tokens to generate, at most the request's cap. @default min(cap, 24) */
  completionTokens?: (request: UpstreamRequest, cap: number) => number;
}

export interface OfflineUpstream {
  /** Base URL for the openai SDK, e.g. `http://127.0.0.1:PORT/v1`. */
  baseURL: string;
  /** Every request answered or failed, in order. */
  calls: UpstreamCall[];
  /** Total tokens billed across all successful calls. */
  billedTokens(): number;
  close(): Promise<void>;
}

const COUNT_MODEL_FALLBACK = 'gpt-4o';

/** Counts with the request's model when it is known, else as gpt-4o. */
const countingModel = (model: string): string => (lookupModel(model) ? model : COUNT_MODEL_FALLBACK);

/** "ok ok ok …": each repetition is one token in both encodings, so the reply has exactly `n` tokens. */
function replyOfTokens(n: number): string {
  return n <= 0 ? '' : 'ok' + ' ok'.repeat(n - 1);
}

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

/** Starts the upstream on a free loopback port. */
export async function startOfflineUpstream(options: OfflineUpstreamOptions = {}): Promise<OfflineUpstream> {
  const calls: UpstreamCall[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || !/\/chat\/completions$/.test(req.url ?? '')) {
        return sendJson(res, 404, { error: { message: 'Not found', type: 'invalid_request_error' } });
      }
      const body = await readJson(req);
      if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
        return sendJson(res, 400, { error: { message: 'model and messages are required', type: 'invalid_request_error' } });
      }
      const request: UpstreamRequest = { body, headers: req.headers };
      const call: UpstreamCall = { request };
      calls.push(call);
      const behaviour = options.behave?.(request) ?? { kind: 'reply' };
      if (behaviour.kind === 'error') {
        const error = { message: behaviour.message ?? `staged failure ${behaviour.status}`, type: 'server_error' };
        return sendJson(res, behaviour.status, { error }, behaviour.headers);
      }
      if (behaviour.kind === 'delay') {
        await new Promise((resolve) => setTimeout(resolve, behaviour.ms));
        if (res.destroyed) return;
      }
      const model = countingModel(body.model);
      const cap = Number(body.max_completion_tokens ?? body.max_tokens ?? 4096);
      const completionTokens = Math.min(cap, options.completionTokens?.(request, cap) ?? Math.min(cap, 24));
      const content = replyOfTokens(completionTokens);
      const promptTokens = countChatTokens(body.messages as never, {
        model,
        ...(Array.isArray(body.tools) ? { tools: body.tools as never } : {}),
      });
      const billedCompletion = countTokens(content, model);
      call.usage = {
        prompt_tokens: promptTokens,
        completion_tokens: billedCompletion,
        total_tokens: promptTokens + billedCompletion,
      };
      sendJson(res, 200, {
        id: `chatcmpl-offline-${calls.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content, refusal: null },
            logprobs: null,
            finish_reason: completionTokens >= cap ? 'length' : 'stop',
          },
        ],
        usage: call.usage,
      });
    })().catch((err: unknown) => {
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
