// Public types of `token-budget/testing`: the offline upstream's options, the behaviours it can be told to stage, and what it records.
import type { IncomingHttpHeaders } from 'node:http';

/** One request as the upstream received it. */
export interface UpstreamRequest {
  /** The JSON body as sent. */
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
  /** The endpoint: `/chat/completions` (`'chat'`), or `/responses` (the Responses API). */
  api: 'chat' | 'responses';
  /** Set when the request came on Azure OpenAI's path: `/openai/deployments/{deployment}/chat/completions?api-version=…`. */
  azure?: { deployment: string; apiVersion: string };
}

/** A tool call the upstream puts in its reply instead of text. */
export interface StagedToolCall {
  name: string;
  /** The arguments, as the JSON text the model would write. */
  arguments: string;
}

/**
 * What the upstream does with one request:
 * - `reply`: 200 with the completion and its `usage` (a tool call instead of text when `toolCall` is given);
 * - `delay`: the same after `ms` (nothing is sent if the client left meanwhile);
 * - `error`: an HTTP error `status` with `headers` (e.g. `retry-after`) and `message`;
 *   nothing generated, as a provider bills nothing;
 * - `no-usage`: 200 without `usage` (text, or a tool call when `toolCall` is given);
 * - `garbled`: 200 whose JSON body is cut short (the completion was generated and is billed);
 * - `reset`: the connection is reset before the headers, or after them with the body cut (generated);
 * - `hang`: never answers; the exchange ends when the client gives up.
 *
 * A request with `"stream": true` is answered as server-sent events, one token per chunk
 * (`reply` and `no-usage` alike: `no-usage` ignores `stream_options.include_usage`, and
 * sends `response.completed` with `usage: null` on `/responses`), and:
 * - `stream-cut`: the connection is reset after `afterTokens` output tokens were sent;
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

/** How an exchange ended, seen from the upstream: still open, answered in full, reset by the upstream, or left by its client. */
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
  /** The model its replies name (on Azure, the model the deployment runs). */
  answeringModel: string;
}

/** Options of `startOfflineUpstream(options)`. */
export interface OfflineUpstreamOptions {
  /** Decides per request what to do: slow, fail, omit usage, cut a stream… @default () => ({ kind: 'reply' }) */
  behave?: (request: UpstreamRequest) => UpstreamBehaviour;
  /**
   * Visible completion tokens to generate, given the cap the request leaves for them
   * (its `max_completion_tokens`, `max_tokens` or `max_output_tokens`, else 4,096, less the
   * reasoning tokens); never more than that cap. A reply that fills the cap ends with
   * `finish_reason: 'length'` (`/responses`: `status: 'incomplete'`).
   * @default (request, cap) => Math.min(cap, 24)
   */
  completionTokens?: (request: UpstreamRequest, cap: number) => number;
  /** Pause between two chunks of a streamed reply, in ms. @default 0 */
  chunkIntervalMs?: number;
  /**
   * Hidden reasoning tokens generated (and billed as output) before the visible reply, at
   * most the cap; the visible reply gets what the cap leaves. @default () => 0
   */
  reasoningTokens?: (request: UpstreamRequest) => number;
  /**
   * The model each Azure deployment runs: counted with, and named in replies.
   * @default {} (a deployment is named as itself and counted as gpt-4o)
   */
  deployments?: Record<string, string>;
  /** Fields added to every `usage` it reports, as some compatible servers do. @default {} */
  extraUsage?: Record<string, unknown>;
  /**
   * The loopback port to listen on, for an app started apart that is given the URL beforehand
   * (`OPENAI_BASE_URL=http://127.0.0.1:PORT/v1`). @default 0 (a free port: read `baseURL`)
   */
  port?: number;
}

/** A running offline upstream. */
export interface OfflineUpstream {
  /** Base URL for the openai SDK, e.g. `http://127.0.0.1:PORT/v1` (Azure's paths are served under the same host). */
  baseURL: string;
  /** Every request received, in order. */
  calls: UpstreamCall[];
  /** Total tokens billed (prompt + completion) across all calls that generated a completion, reported or not. */
  billedTokens(): number;
  /** Resolves once every call received so far has ended: await it before reading what was billed. */
  idle(): Promise<void>;
  /** Stops the server, closing any open connection. */
  close(): Promise<void>;
}
