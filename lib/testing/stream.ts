// Writing a streamed reply of the offline upstream: the pieces of generated output, paced, stopped early when staged or left, and what that bills.
import type http from 'node:http';
import { countTokens } from '../tokens/count';
import type { StagedToolCall, UpstreamCall } from './types';
import type { StreamWire } from './wire';

/** Waits `ms`, or less if the client leaves first: no timer outlives its exchange, nor keeps a test runner's process alive. */
export function pauseUnlessGone(res: http.ServerResponse, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    // Gone already (its 'close' has been and will not come again): no wait at all.
    if (res.destroyed) return resolve();
    const ended = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      res.off('close', ended);
      resolve();
    }, ms);
    res.once('close', ended);
  });
}

/** The cap a request without one gets. */
export const DEFAULT_CAP = 4096;

/** "ok ok ok …": each repetition is one token in both encodings, so the reply has exactly `n` tokens. */
export function replyOfTokens(n: number): string {
  return n <= 0 ? '' : 'ok' + ' ok'.repeat(n - 1);
}

/** Pieces of a streamed reply, each with its tokens: one token of text each, or a tool call's arguments in slices of 8 characters. */
export function replyPieces(generated: number, toolCall: StagedToolCall | undefined, model: string): [string, number][] {
  if (!toolCall) return Array.from({ length: generated }, (_, i) => [i === 0 ? 'ok' : ' ok', 1]);
  const pieces: [string, number][] = [];
  for (let at = 0; at < toolCall.arguments.length; at += 8) {
    const piece = toolCall.arguments.slice(at, at + 8);
    pieces.push([piece, countTokens(piece, model)]);
  }
  return pieces;
}

/** Records what the call billed: its prompt and `completionTokens` generated. */
export function billCall(call: UpstreamCall, completionTokens: number, extraUsage: Record<string, unknown> = {}): void {
  call.completionTokens = completionTokens;
  call.usage = {
    prompt_tokens: call.promptTokens,
    completion_tokens: completionTokens,
    total_tokens: call.promptTokens + completionTokens,
    ...extraUsage,
  };
}

/**
 * Answers as server-sent events, pausing `intervalMs` between chunks, and records what
 * it sent: a stream stopped early (cut, failed, or left by its client) bills what was sent
 * (and the reasoning tokens generated before it).
 */
export async function streamReply(
  res: http.ServerResponse,
  call: UpstreamCall,
  wire: StreamWire,
  intervalMs: number,
  extraUsage: Record<string, unknown> = {},
): Promise<void> {
  const { behaviour } = call;
  const stopAfter = behaviour.kind === 'stream-cut' || behaviour.kind === 'stream-error' ? behaviour.afterTokens : Infinity;
  const bill = () => billCall(call, call.reasoningTokens + call.sentTokens, extraUsage);
  // A client that leaves is billed by the time its exchange is seen to end.
  res.once('close', bill);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  call.sentTokens += wire.head();
  for (const [writeDelta, tokens] of wire.deltas) {
    if (intervalMs > 0) await pauseUnlessGone(res, intervalMs);
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
