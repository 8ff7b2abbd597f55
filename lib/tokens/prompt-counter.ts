// The shape of a prompt counter: what counting and truncation agree on.
import type { ChatMessage } from '../messages';
import type { Slice, Steps } from './slice';

/** How a prompt is counted: what every request costs, and what each message adds. */
export interface PromptCounter {
  /** Tokens of everything but the messages (reply priming, tool definitions). */
  fixed: number;
  /**
   * Tokens one message adds, exact up to `limit`, or a number above `limit` once past it:
   * the figure when it was counted at once (most messages are), else the work to run.
   */
  message(message: ChatMessage, limit: number, slice: Slice): number | Steps<number>;
}
