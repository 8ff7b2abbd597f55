// Truncation: keep system/developer messages and the newest turns that fit the input budget.
import type { ChatMessage } from '../messages';

/** How a prompt is counted: what every request costs, and what each message adds. */
export interface PromptCounter {
  /** Tokens of everything but the messages (reply priming, tool definitions). */
  fixed: number;
  /** Tokens one message adds, exact up to `limit`, or a number above `limit` once past it. */
  message(message: ChatMessage, limit: number): number;
}

export interface Truncation {
  messages: ChatMessage[];
  droppedMessages: number;
  /** Prompt tokens of the kept messages, exact. */
  inputTokens: number;
}

const isPinned = (m: ChatMessage) => m.role === 'system' || m.role === 'developer';

/**
 * Groups the unpinned messages into units that are kept or dropped whole: an assistant
 * message with `tool_calls` and the `tool` results after it are one unit (the API
 * refuses tool results without their call), every other message is a unit of its own.
 */
function groupUnits(messages: ChatMessage[]): number[][] {
  const units: number[][] = [];
  let openToolCall: number[] | undefined;
  messages.forEach((message, i) => {
    if (isPinned(message)) return;
    if (message.role === 'tool' && openToolCall) {
      openToolCall.push(i);
      return;
    }
    const unit = [i];
    units.push(unit);
    openToolCall = message.role === 'assistant' && message.tool_calls?.length ? unit : undefined;
  });
  return units;
}

/**
 * Keeps every system/developer message, then whole units from the newest back while
 * they fit in `maxInput`. The units from the newest user message on are required:
 * when they cannot fit, returns undefined (the caller answers 413).
 */
export function truncateToFit(messages: ChatMessage[], counter: PromptCounter, maxInput: number): Truncation | undefined {
  let room = maxInput - counter.fixed;
  const keep = new Array<boolean>(messages.length).fill(false);
  for (const [i, message] of messages.entries()) {
    if (!isPinned(message)) continue;
    room -= counter.message(message, Math.max(room, 0));
    if (room < 0) return undefined;
    keep[i] = true;
  }
  const units = groupUnits(messages);
  const lastUserUnit = units.findLastIndex((unit) => unit.some((i) => messages[i]!.role === 'user'));
  const firstRequired = lastUserUnit >= 0 ? lastUserUnit : units.length - 1;
  for (let u = units.length - 1; u >= 0; u--) {
    let cost = 0;
    for (const i of units[u]!) cost += counter.message(messages[i]!, Math.max(room - cost, 0));
    if (cost > room) {
      if (u >= firstRequired) return undefined;
      break;
    }
    room -= cost;
    for (const i of units[u]!) keep[i] = true;
  }
  const kept = messages.filter((_, i) => keep[i]);
  return { messages: kept, droppedMessages: messages.length - kept.length, inputTokens: maxInput - room };
}
