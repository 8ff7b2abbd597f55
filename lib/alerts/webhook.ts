// The alert webhook: a JSON POST with a time-out per attempt, retried with backoff, and an outcome that never throws.
import { checkName, checkOptionNames, fail, optionNames, positiveInteger } from '../options/check';
import type { AlertWebhookOptions } from '../types';

/** `webhook`, read. */
export interface WebhookConfig {
  url: URL;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  headers: Record<string, string>;
}

/** How a delivery ended; `reason` names the last failure. */
export type Delivery = { ok: true; attempts: number } | { ok: false; attempts: number; reason: string };

const MAX_RETRIES = 10;

const WEBHOOK_OPTION_NAMES = optionNames<AlertWebhookOptions>({
  url: true,
  timeoutMs: true,
  retries: true,
  backoffMs: true,
  headers: true,
});

/** Reads the `webhook` option of a cost meter; `undefined` for none. */
export function readWebhook(option: string | AlertWebhookOptions | undefined, path: string): WebhookConfig | undefined {
  if (option === undefined) return undefined;
  const options: AlertWebhookOptions = typeof option === 'string' ? { url: option } : option;
  if (typeof options !== 'object' || options === null)
    fail('TB_INVALID_OPTION', `${path} must be a URL or { url, timeoutMs, retries, backoffMs, headers }.`);
  checkOptionNames(options, WEBHOOK_OPTION_NAMES, path);
  let url: URL | undefined;
  try {
    url = new URL(options.url);
  } catch {
    // Reported below with the option's path.
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    fail('TB_INVALID_OPTION', `${path}.url must be an http(s) URL; got ${JSON.stringify(options.url)}.`);
  }
  const retries = options.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    fail('TB_INVALID_OPTION', `${path}.retries must be an integer from 0 to ${MAX_RETRIES}; got ${JSON.stringify(retries)}.`);
  }
  const headers = options.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Object.values(headers).some((value) => typeof value !== 'string')) {
    fail('TB_INVALID_OPTION', `${path}.headers must be an object of header names to strings.`);
  }
  for (const name of Object.keys(headers)) checkName(name, `${path}.headers: a header name`);
  return {
    url,
    timeoutMs: options.timeoutMs === undefined ? 5000 : positiveInteger(options.timeoutMs, `${path}.timeoutMs`),
    retries,
    backoffMs: options.backoffMs === undefined ? 500 : positiveInteger(options.backoffMs, `${path}.backoffMs`),
    headers,
  };
}

/** Statuses worth another attempt: the receiver may answer later. Other refusals will not change. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/** A wait that does not keep the process alive on its own. */
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** One POST; `undefined` when it was accepted (2xx), else why not and whether to try again. */
async function attempt(config: WebhookConfig, body: string): Promise<{ reason: string; retry: boolean } | undefined> {
  try {
    const res = await fetch(config.url, {
      method: 'POST',
      headers: { ...config.headers, 'content-type': 'application/json' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    // Read to the end, so the connection is free for the next POST.
    await res.arrayBuffer();
    if (res.status >= 200 && res.status < 300) return undefined;
    return { reason: `HTTP ${res.status}`, retry: retryable(res.status) };
  } catch (err) {
    // By name, not instanceof Error: fetch's DOMException may come from another realm (a test VM).
    const name = (err as { name?: unknown } | null)?.name;
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    return {
      reason: timedOut ? `no answer within ${config.timeoutMs} ms` : `network error (${(err as Error).message})`,
      retry: true,
    };
  }
}

/**
 * POSTs `payload` as JSON, up to `1 + retries` times, waiting `backoffMs`, then twice
 * that, … between attempts. Resolves with the outcome; never rejects.
 */
export async function deliver(config: WebhookConfig, payload: unknown): Promise<Delivery> {
  const body = JSON.stringify(payload);
  for (let attempts = 1; ; attempts++) {
    const failure = await attempt(config, body);
    if (!failure) return { ok: true, attempts };
    if (!failure.retry || attempts > config.retries) return { ok: false, attempts, reason: failure.reason };
    await pause(config.backoffMs * 2 ** (attempts - 1));
  }
}
