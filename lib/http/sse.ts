// Server-sent events in the openai SDK's format: the stream's head, one event per chunk, flushed, `[DONE]`, errors.
import type { ServerResponse } from 'node:http';
import type { BudgetRefusal } from '../refusal';

/** A response behind `compression()` has `flush()`: without it, events would wait for a full buffer. */
type MaybeFlushed = ServerResponse & { flush?: () => void };

/** Sends the stream's head: the headers already set on `res` (RateLimit, cost) go with it. */
export function writeEventStreamHead(res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
}

/** Writes one `data:` event (a JSON value, or the raw `[DONE]`) and flushes it. */
export function writeEvent(res: MaybeFlushed, data: string, event?: string): void {
  res.write(event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`);
  res.flush?.();
}

/**
 * Ends the stream with an `error` event whose data is `{ error: { type, message } }`:
 * the openai SDK raises it as an `APIError` in the client's `for await`.
 */
export function endWithErrorEvent(res: MaybeFlushed, refusal: BudgetRefusal): void {
  writeEvent(res, JSON.stringify({ error: { type: refusal.type, message: refusal.message } }), 'error');
  res.end();
}
