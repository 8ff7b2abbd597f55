// Helpers for the offline upstream's tests: raw HTTP posts (status, headers, body as sent) and server-sent events read back.
import { startOfflineUpstream, type OfflineUpstream, type OfflineUpstreamOptions } from '../../lib/testing';

/** Upstreams started by a test, closed after it (each test starts its own, so that Stryker runs it against the upstream's code). */
const started: OfflineUpstream[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((upstream) => upstream.close()));
});

export async function startUpstream(options: OfflineUpstreamOptions = {}): Promise<OfflineUpstream> {
  const upstream = await startOfflineUpstream(options);
  started.push(upstream);
  return upstream;
}

/** The host part of an upstream's base URL, for paths outside `/v1` (Azure's). */
export const hostOf = (upstream: OfflineUpstream): string => upstream.baseURL.replace(/\/v1$/, '');

export interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Sends `body` (JSON unless already a string) and reads the whole answer as text. */
export async function post(url: string, body: unknown, init: RequestInit = {}): Promise<RawAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export interface ServerSentEvent {
  event: string | undefined;
  data: unknown;
}

/** The events of a server-sent stream, each `data` parsed as JSON (`[DONE]` kept as text). */
export function readEvents(text: string): ServerSentEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.length > 0)
    .map((block) => {
      const lines = block.split('\n');
      const data = lines.find((line) => line.startsWith('data: '))!.slice('data: '.length);
      return {
        event: lines.find((line) => line.startsWith('event: '))?.slice('event: '.length),
        data: data === '[DONE]' ? data : (JSON.parse(data) as unknown),
      };
    });
}

/** A Unix time in seconds taken around a request: `created` must fall between the two. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
