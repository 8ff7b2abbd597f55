// Truncation against a counter whose costs the test sets: pinned messages, whole turns from the newest back, the exact tokens kept.
import { truncateToFit } from '../../lib/degrade/truncate';
import type { ChatMessage, ChatRole } from '../../lib/messages';
import type { PromptCounter } from '../../lib/tokens/prompt-counter';
import { runWhole, WHOLE } from '../../lib/tokens/slice';

/** A message that costs `tokens`: its content is that many characters. */
const message = (role: ChatRole, tokens: number): ChatMessage => ({ role, content: 'x'.repeat(tokens) });

/** Exact costs, as the contract allows at any limit. */
const counter = (fixed: number): PromptCounter => ({
  fixed,
  // eslint-disable-next-line require-yield -- a counter that never needs a turn of the event loop
  *message(counted) {
    return (counted.content as string).length;
  },
});

const truncate = (messages: ChatMessage[], fixed: number, maxInput: number) =>
  runWhole(truncateToFit(messages, counter(fixed), maxInput, WHOLE));

const system = message('system', 4);
const developer = message('developer', 3);

test('what every request costs beyond its messages must fit first', () => {
  expect(truncate([message('user', 1)], 10, 9)).toBeUndefined();
  expect(truncate([message('user', 1)], 10, 11)).toMatchObject({ droppedMessages: 0, inputTokens: 11 });
  expect(truncate([], 10, 9)).toBeUndefined();
});

test('system and developer messages are all kept, wherever they stand; one that cannot fit fails the whole', () => {
  const user = message('user', 2);
  const messages = [system, message('user', 5), developer, user];
  expect(truncate(messages, 1, 10)).toEqual({ messages: [system, developer, user], droppedMessages: 1, inputTokens: 10 });
  expect(truncate(messages, 1, 7)).toBeUndefined();
  // Pinned messages that fill the room exactly, and nothing else to keep.
  expect(truncate([system, developer], 1, 8)).toEqual({ messages: [system, developer], droppedMessages: 0, inputTokens: 8 });
  expect(truncate([system, developer], 1, 7)).toBeUndefined();
});

test('whole turns are kept from the newest back; the first that does not fit ends the keeping', () => {
  const oldest = message('user', 1);
  const older = [message('user', 2), message('assistant', 2)];
  const newest = [message('user', 1), message('tool', 1)];
  const messages = [oldest, ...older, ...newest];
  expect(truncate(messages, 0, 6)).toEqual({ messages: [...older, ...newest], droppedMessages: 1, inputTokens: 6 });
  // The older turn's answer would fit alone: it is dropped with its question, and the oldest turn after it, though it would fit.
  expect(truncate(messages, 0, 4)).toEqual({ messages: newest, droppedMessages: 3, inputTokens: 2 });
});

test('the newest turn is required: when any of its messages does not fit, nothing is kept', () => {
  // The question fills the room exactly; its answer is one token more.
  expect(truncate([message('user', 5), message('assistant', 1)], 0, 5)).toBeUndefined();
  expect(truncate([message('user', 1), message('user', 5)], 0, 4)).toBeUndefined();
});

test('messages before the first user message are a turn of their own', () => {
  const greeting = message('assistant', 2);
  const user = message('user', 1);
  expect(truncate([greeting, user], 0, 3)).toEqual({ messages: [greeting, user], droppedMessages: 0, inputTokens: 3 });
  expect(truncate([greeting, user], 0, 2)).toEqual({ messages: [user], droppedMessages: 1, inputTokens: 1 });
});
