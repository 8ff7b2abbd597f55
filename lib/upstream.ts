// Failures of the model call (openai SDK errors, duck-typed) as refusals that never leak upstream text.
import type { StopReason } from './call';
import { BudgetRefusal } from './refusal';

interface UpstreamErrorLike {
  status?: unknown;
  headers?: unknown;
}

/**
 * The class names along the error's prototype chain: the SDK's error classes do not
 * set `name`, and matching by name keeps `openai` an optional peer.
 */
function errorClasses(err: unknown): Set<string> {
  const names = new Set<string>();
  for (
    let proto = err === null || err === undefined ? null : Object.getPrototypeOf(err);
    proto;
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string') names.add(name);
  }
  return names;
}

function header(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  const value =
    typeof (headers as Headers).get === 'function' ? (headers as Headers).get(name) : (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** Seconds from `retry-after-ms` / `retry-after` (seconds or an HTTP date), when the upstream said. */
function retryAfterSeconds(headers: unknown): number | undefined {
  const ms = Number(header(headers, 'retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return Math.max(1, Math.ceil(ms / 1000));
  const value = header(headers, 'retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.max(1, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(1, Math.ceil((date - Date.now()) / 1000));
}

/**
 * An error of the model's SDK: openai's `APIError` and its subclasses (status errors,
 * connection errors, time-outs). The class name, not `instanceof`, keeps openai optional.
 */
export function isModelClientError(err: unknown): boolean {
  return errorClasses(err).has('APIError');
}

/** What the client is told of a model call that failed: `stoppedBy` says when `run` stopped it itself. */
export function callFailureRefusal(err: unknown, stoppedBy: StopReason | undefined): BudgetRefusal {
  if (stoppedBy === 'timeout') return new BudgetRefusal('upstream_timeout', 'The model provider did not answer in time.');
  return upstreamRefusal(err) ?? new BudgetRefusal('upstream_error', 'The model provider sent an answer that could not be read.');
}

/** Error codes of a connection that was never made: nothing reached the provider. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Messages (they have no code) of fetch's own refusals before it connects: undici refuses
 * the Fetch standard's blocked ports (1, 10080, …) with a bare `Error('bad port')` under
 * its `TypeError('fetch failed')`.
 */
const NEVER_SENT = new Set(['bad port']);

/**
 * Whether the provider did not bill a failed call: it answered with an HTTP error
 * status (4xx, 429, 5xx), or the request never left the process (the connection was
 * never made, or fetch refused to make it). Anything else (a time-out, a reset, a
 * garbled body, an abort) happened after the request was sent.
 */
export function providerRefused(err: unknown): boolean {
  const status = (err as UpstreamErrorLike | null | undefined)?.status;
  if (typeof status === 'number' && status >= 400) return true;
  let cause: unknown = err;
  for (let depth = 0; depth < 8 && typeof cause === 'object' && cause !== null; depth++) {
    const { code, message } = cause as { code?: unknown; message?: unknown };
    if (NEVER_CONNECTED.has(String(code)) || NEVER_SENT.has(String(message))) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Maps an error thrown by the model call. The upstream's own message is never passed
 * on: it can quote request details or part of an API key.
 */
export function upstreamRefusal(err: unknown): BudgetRefusal | undefined {
  if (err instanceof BudgetRefusal) return err;
  const { status, headers } = (err ?? {}) as UpstreamErrorLike;
  const classes = errorClasses(err);
  if (classes.has('APIConnectionTimeoutError')) {
    return new BudgetRefusal('upstream_timeout', 'The model provider did not answer in time.');
  }
  if (status === 429) {
    const retry = retryAfterSeconds(headers);
    return new BudgetRefusal(
      'upstream_rate_limited',
      'The model provider is rate limiting this service; retry shortly.',
      retry === undefined ? {} : { retryAfterSeconds: retry },
    );
  }
  if (typeof status === 'number') {
    return new BudgetRefusal('upstream_error', `The model provider failed to answer (status ${status}).`);
  }
  if (classes.has('APIConnectionError')) {
    return new BudgetRefusal('upstream_error', 'The model provider could not be reached.');
  }
  return undefined;
}
