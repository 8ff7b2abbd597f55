// Truncation: keep system/developer messages and the newest whole turns that fit the input budget.
import type { ChatMessage } from '../messages';
import type { PromptCounter } from '../tokens/prompt-counter';
import type { Slice, Steps } from '../tokens/slice';

export interface Truncation {
  messages: ChatMessage[];
  droppedMessages: number;
  /** Prompt tokens of the kept messages, exact. */
  inputTokens: number;
}

const isPinned = (m: ChatMessage) => m.role === 'system' || m.role === 'developer';

/**
 * Groups the unpinned messages into turns, kept or dropped whole: a user message and
 * every assistant and tool message up to the next user message. An answer is never
 * kept without its question, nor a tool result without its call (the API refuses
 * those). Messages before the first user message are a turn of their own.
 */
function groupTurns(messages: ChatMessage[]): number[][] {
  const turns: number[][] = [];
  messages.forEach((message, i) => {
    if (isPinned(message)) return;
    if (message.role === 'user' || turns.length === 0) turns.push([i]);
    else turns[turns.length - 1]!.push(i);
  });
  return turns;
}

/**
 * Keeps every system/developer message, then whole turns from the newest back while
 * they fit in `maxInput`; the newest turn is required: when it cannot fit, returns
 * undefined (the caller answers 413). Each message is counted once, and only up to
 * the room that is left.
 */
export function* truncateToFit(
  messages: ChatMessage[],
  counter: PromptCounter,
  maxInput: number,
  slice: Slice,
): Steps<Truncation | undefined> {
  let room = maxInput - counter.fixed;
  if (room < 0) return undefined;
  const keep = new Array<boolean>(messages.length).fill(false);
  for (const [i, message] of messages.entries()) {
    if (!isPinned(message)) continue;
    const tokens = counter.message(message, room, slice);
    room -= typeof tokens === 'number' ? tokens : yield* tokens;
    if (room < 0) return undefined;
    keep[i] = true;
  }
  const turns = groupTurns(messages);
  for (let t = turns.length - 1; t >= 0; t--) {
    let cost = 0;
    for (const i of turns[t]!) {
      const tokens = counter.message(messages[i]!, room - cost, slice);
      cost += typeof tokens === 'number' ? tokens : yield* tokens;
      if (cost > room) break;
    }
    if (cost > room) {
      if (t === turns.length - 1) return undefined;
      break;
    }
    room -= cost;
    for (const i of turns[t]!) keep[i] = true;
  }
  const kept = messages.filter((_, i) => keep[i]);
  return { messages: kept, droppedMessages: messages.length - kept.length, inputTokens: maxInput - room };
}
