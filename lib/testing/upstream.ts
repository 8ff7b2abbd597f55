// The offline OpenAI-compatible upstream: a real HTTP server speaking chat completions (OpenAI's paths and Azure's) and the Responses API, streamed or not, deterministic replies, staged failures.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkOptionNames, fail, optionNames } from '../options/check';
import { countChatTokens } from '../tokens/chat';
import { countTokens } from '../tokens/count';
import { lookupModel } from '../tokens/models';
import { readResponsesRequest } from '../responses/request';
import { chatReply, chatWire } from './chat-wire';
import { responsesReply, responsesWire } from './responses-wire';
import { billCall, DEFAULT_CAP, pauseUnlessGone, replyOfTokens, streamReply } from './stream';
import type { OfflineUpstream, OfflineUpstreamOptions, UpstreamCall, UpstreamRequest } from './types';

const COUNT_MODEL_FALLBACK = 'gpt-4o';
/** Counts with the request's model when it is known, else as gpt-4o. */
const countingModel = (model: string): string => (lookupModel(model) ? model : COUNT_MODEL_FALLBACK);

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

/** The model a reply names: the one an Azure deployment runs, or the one asked for. */
const answeringModel = (request: UpstreamRequest, deployments: Record<string, string> = {}): string =>
  request.azure ? (deployments[request.azure.deployment] ?? request.azure.deployment) : String(request.body.model);

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

/**
 * Starts an OpenAI-compatible upstream on a free loopback port, for tests without an API key:
 * point `new OpenAI({ baseURL: upstream.baseURL, apiKey: 'offline' })` at it. It answers
 * `POST …/chat/completions` (also Azure's `/openai/deployments/{name}/chat/completions?api-version=…`)
 * and `POST …/responses`, streamed or not, reports `usage` counted by token-budget's own
 * counter, and records every call and what it billed.
 */
const UPSTREAM_OPTION_NAMES = optionNames<OfflineUpstreamOptions>({
  behave: true,
  completionTokens: true,
  chunkIntervalMs: true,
  reasoningTokens: true,
  deployments: true,
  extraUsage: true,
  port: true,
});

export async function startOfflineUpstream(options: OfflineUpstreamOptions = {}): Promise<OfflineUpstream> {
  checkOptionNames(options, UPSTREAM_OPTION_NAMES, 'startOfflineUpstream');
  const { port: askedPort = 0 } = options;
  if (!Number.isInteger(askedPort) || askedPort < 0 || askedPort > 65_535) {
    fail(
      'TB_INVALID_OPTION',
      `startOfflineUpstream.port must be a port number (0: a free one); got ${JSON.stringify(askedPort)}.`,
    );
  }
  const calls: UpstreamCall[] = [];

  const answer = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const api = /\/chat\/completions$/.test(url.pathname) ? 'chat' : /\/responses$/.test(url.pathname) ? 'responses' : undefined;
    if (req.method !== 'POST' || !api) {
      return sendJson(res, 404, { error: { message: 'Not found', type: 'invalid_request_error' } });
    }
    const deployment = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/.exec(url.pathname)?.[1];
    const apiVersion = url.searchParams.get('api-version');
    if (deployment !== undefined && !apiVersion) {
      return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
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
    if (api === 'responses' && typeof body.max_output_tokens === 'number' && body.max_output_tokens < 16) {
      // As the Responses API does: its output cap has a floor.
      const message = `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${body.max_output_tokens} instead.`;
      return sendJson(res, 400, {
        error: { message, type: 'invalid_request_error', param: 'max_output_tokens', code: 'integer_below_min_value' },
      });
    }
    const request: UpstreamRequest = { body, headers: req.headers, api };
    if (deployment !== undefined) request.azure = { deployment: decodeURIComponent(deployment), apiVersion: apiVersion! };
    const model = countingModel(answeringModel(request, options.deployments));
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
      answeringModel: answeringModel(request, options.deployments),
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
      await pauseUnlessGone(res, behaviour.ms);
      if (res.destroyed) return;
    }

    // Reasoning comes first: the visible reply gets what the cap leaves.
    const visibleCap = (cap ?? DEFAULT_CAP) - call.reasoningTokens;
    const generated = Math.min(visibleCap, options.completionTokens?.(request, visibleCap) ?? Math.min(visibleCap, 24));
    const toolCall = behaviour.kind === 'no-usage' || behaviour.kind === 'reply' ? behaviour.toolCall : undefined;
    if (body.stream === true) {
      const wire = (api === 'chat' ? chatWire : responsesWire)(res, call, generated, toolCall, model);
      return streamReply(res, call, wire, options.chunkIntervalMs ?? 0, options.extraUsage);
    }
    const content = toolCall ? null : replyOfTokens(generated);
    const visible = toolCall
      ? countTokens(toolCall.name, model) + countTokens(toolCall.arguments, model)
      : countTokens(content ?? '', model);
    billCall(call, call.reasoningTokens + visible, options.extraUsage);
    const cut = !toolCall && generated >= visibleCap;
    const reply = (api === 'chat' ? chatReply : responsesReply)(call, calls.length, content, toolCall, cut);
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
  server.listen(askedPort, '127.0.0.1');
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
