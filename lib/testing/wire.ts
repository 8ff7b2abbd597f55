// What each API's wire format provides the offline upstream: a reply's body, and the writer of a streamed reply.
import type http from 'node:http';
import type { StagedToolCall, UpstreamCall } from './types';

/** How one API's stream is written: its head, one event per generated piece, its end, a failure. */
export interface StreamWire {
  /** Writes the head; returns the output tokens it carried (a function call's name on `/responses`). */
  head(): number;
  /** Events that carry generated output, each with its tokens, written one at a time. */
  deltas: [write: () => void, tokens: number][];
  finish(): void;
  error(): void;
}

/** The stream of a reply of `generated` tokens (or of `toolCall`), counted with `model`. */
export type StreamWriter = (
  res: http.ServerResponse,
  call: UpstreamCall,
  generated: number,
  toolCall: StagedToolCall | undefined,
  model: string,
) => StreamWire;

/** The body of the `n`th reply, not streamed: its text (`content`) or `toolCall`, `cut` short by the cap or not. */
export type ReplyBody = (
  call: UpstreamCall,
  n: number,
  content: string | null,
  toolCall: StagedToolCall | undefined,
  cut: boolean,
) => Record<string, unknown>;
