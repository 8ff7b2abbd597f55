// Prompt tokens of a chat request as the API counts them (OpenAI cookbook rules), with an early exit past a limit.
import type { ChatMessage, ImagePart, ToolDefinition } from '../messages';
import { getEncoder, type CountUnderWay, type Encoder } from './encoder';
import { countImageTokens } from './images';
import { requireModel, type EncodingName, type ModelInfo } from './models';
import { runWhole, WHOLE, type Slice, type Steps } from './slice';
import { toolTokenParts, type TokenPart } from './tools';

export { TOKENS_PER_MESSAGE, TOKENS_PER_NAME } from './models';
/** Every reply is primed with `<|start|>assistant<|message|>` (cookbook). */
export const REPLY_PRIMING_TOKENS = 3;
/**
 * Framing of one call in an assistant's `tool_calls`, besides the tokens of its
 * function name and arguments. Nothing official is published; openai-chat-tokens
 * measured 3 for the legacy `function_call`, and a tool call carries a call id and
 * a `functions.` namespace on top of it. 10 is chosen to err high: over-reserving is
 * settled back after the call, under-reserving lets through what a budget cannot pay.
 */
export const TOKENS_PER_TOOL_CALL = 10;

export interface ChatCountOptions {
  model: string;
  tools?: ToolDefinition[];
  /** Stop counting once the total passes it (a number ≥ 0); the result is then some number above it. */
  limit?: number;
}

/**
 * What the API will count as prompt tokens for `messages` and `tools`. With
 * `limit`: the exact count when it is at most `limit`, otherwise a number above
 * `limit` found without counting the rest, so a huge prompt costs only about
 * `limit` tokens' worth of work. Throws `TB_UNKNOWN_MODEL` for a model no family matches.
 *
 * Equals `REPLY_PRIMING_TOKENS + countToolsTokens(tools) + Σ countMessageTokens(message)`.
 */
export function countChatTokens(messages: readonly ChatMessage[], options: ChatCountOptions): number {
  const model = requireModel(options.model);
  const { limit } = options;
  if (limit !== undefined && !(typeof limit === 'number' && limit >= 0)) {
    throw new TypeError(`countChatTokens: limit must be a number ≥ 0 (or left out); got ${String(limit)}.`);
  }
  return runWhole(sumTokens(chatParts(messages, options.tools ?? [], model), model, limit, WHOLE));
}

/** Tokens of one message, its framing included; with `limit`, as in `countChatTokens`. */
export function countMessageTokens(message: ChatMessage, model: ModelInfo, limit?: number): number {
  const steps = messageTokenSteps(message, model, limit, WHOLE);
  return typeof steps === 'number' ? steps : runWhole(steps);
}

/** Tokens that `tools` add to a prompt (0 for none); with `limit`, as in `countChatTokens`. */
export function countToolsTokens(tools: readonly ToolDefinition[], model: ModelInfo, limit?: number): number {
  return runWhole(toolsTokenSteps(tools, model, limit, WHOLE));
}

/**
 * `countMessageTokens` as work that yields whenever `slice` is due: the count itself when
 * it was done at once, as it is for the usual message, a role and a text; else the work.
 */
export function messageTokenSteps(
  message: ChatMessage,
  model: ModelInfo,
  limit: number | undefined,
  slice: Slice,
): number | Steps<number> {
  const { content } = message;
  if (
    typeof content === 'string' &&
    message.name === undefined &&
    message.tool_calls === undefined &&
    message.tool_call_id === undefined
  ) {
    return roleAndTextTokens(message.role, content, model, limit ?? Infinity, slice);
  }
  return sumTokens(messageParts(message, model), model, limit, slice);
}

/**
 * `sumTokens` over a role and a text without its generator or its array of parts (garbage
 * made per message per request), as long as both are counted at once.
 */
function roleAndTextTokens(role: string, text: string, model: ModelInfo, bound: number, slice: Slice): number | Steps<number> {
  const encoder = getEncoder(model.encoding);
  const remembered = textCountsOf(model.encoding);
  let total = model.tokensPerMessage;
  if (total > bound) return total;
  const roleTokens = startText(role, bound - total, encoder, remembered, slice);
  // A role is a word, counted at once unless the slice ends just then: the general path counts it again.
  if (typeof roleTokens !== 'number' || slice.due()) return sumTokens([total, role, text], model, bound, slice);
  total += roleTokens;
  if (total > bound) return total;
  const left = bound - total;
  const textTokens = startText(text, left, encoder, remembered, slice);
  if (typeof textTokens !== 'number') return finishText(total, text, left, textTokens, encoder, remembered);
  // A slice that ended with the text is seen at the next text's look at the clock.
  return total + textTokens;
}

/** `countToolsTokens` as work that yields whenever `slice` is due. */
export function toolsTokenSteps(
  tools: readonly ToolDefinition[],
  model: ModelInfo,
  limit: number | undefined,
  slice: Slice,
): Steps<number> {
  return sumTokens(toolTokenParts(tools, model.functionInit), model, limit, slice);
}

function* chatParts(
  messages: readonly ChatMessage[],
  tools: readonly ToolDefinition[],
  model: ModelInfo,
): Generator<MessagePart> {
  // Fixed costs first: the cheapest way to learn that a prompt is over a tiny limit.
  yield REPLY_PRIMING_TOKENS;
  yield* toolTokenParts(tools, model.functionInit);
  for (const message of messages) yield* messageParts(message, model);
}

/** What a message is counted from: fixed counts, texts, and images (measured when the sum reaches them). */
type MessagePart = TokenPart | ImagePart['image_url'];

/** The parts of one message, in an array: a generator per message is garbage made per request. */
function messageParts(message: ChatMessage, model: ModelInfo): MessagePart[] {
  // The name's framing is folded in here: it can be −1 (gpt-3.5-turbo-0301), and a
  // running total must never drop back under a limit it has passed.
  const parts: MessagePart[] = [model.tokensPerMessage + (message.name === undefined ? 0 : model.tokensPerName), message.role];
  const { content } = message;
  if (typeof content === 'string') {
    parts.push(content);
  } else if (content) {
    for (const part of content) parts.push(part.type === 'text' ? part.text : part.image_url);
  }
  if (message.name !== undefined) parts.push(message.name);
  for (const call of message.tool_calls ?? []) {
    parts.push(TOKENS_PER_TOOL_CALL, call.id, call.function.name, call.function.arguments);
  }
  // Call ids pair a result with its call. Whether the model is shown them is not
  // published; they are counted as text, as long as they are, so that a huge id
  // (the API does not cap them) cannot ride along for free.
  if (message.tool_call_id !== undefined) parts.push(message.tool_call_id);
  // The result's framing beyond its role, id and content is left to
  // TOKENS_PER_TOOL_CALL, counted once per call on the assistant side.
  return parts;
}

/**
 * Texts this long are remembered: shorter ones (roles, names, ids) are a piece or two,
 * which cost about what a look-up does; longer ones are not (V8 hashes a string's first
 * 16,383 characters only, and a long text is no chat history).
 */
const REMEMBERED_MIN_CHARS = 32;
const REMEMBERED_MAX_CHARS = 4096;
/** Characters remembered per encoding in all, in two generations of half as many each. */
const REMEMBERED_CHARS = 1 << 20;

/**
 * Exact token counts of the texts counted last: a chat client resends its system
 * prompt and history with every message, and looking a text up costs a hash of it
 * where counting it costs ~80 ns a token.
 *
 * Two generations instead of one map that forgets its oldest entry: a map that deletes
 * keeps the holes until it grows, and finding the oldest key walks past them, one more
 * each request once it is full. Here a full generation is dropped whole, and a text found
 * in it is remembered again in the new one, so what a conversation resends stays.
 */
class TextCounts {
  private recent = new Map<string, number>();
  private older = new Map<string, number>();
  private recentChars = 0;

  get(text: string): number | undefined {
    if (!isRemembered(text)) return undefined;
    const count = this.recent.get(text);
    if (count !== undefined) return count;
    const older = this.older.get(text);
    if (older !== undefined) this.remember(text, older);
    return older;
  }

  remember(text: string, count: number): void {
    // Two sliced counts of one text may both finish: the second finds it remembered.
    if (!isRemembered(text) || this.recent.has(text)) return;
    this.recent.set(text, count);
    this.recentChars += text.length;
    if (this.recentChars <= REMEMBERED_CHARS / 2) return;
    this.older = this.recent;
    this.recent = new Map();
    this.recentChars = 0;
  }
}

const isRemembered = (text: string) => text.length >= REMEMBERED_MIN_CHARS && text.length <= REMEMBERED_MAX_CHARS;

const textCounts = new Map<EncodingName, TextCounts>();

function textCountsOf(encoding: EncodingName): TextCounts {
  let counts = textCounts.get(encoding);
  if (!counts) textCounts.set(encoding, (counts = new TextCounts()));
  return counts;
}

/**
 * The tokens of `text` up to `left` (above it, one more than `left`) when they are counted
 * at once, as most texts are; else the count under way, for `finishText`.
 */
function startText(text: string, left: number, encoder: Encoder, remembered: TextCounts, slice: Slice): number | CountUnderWay {
  const known = remembered.get(text);
  // As the encoder answers: the count when it is at most what is left, else one more than that.
  if (known !== undefined) return Math.min(known, left + 1);
  const started = encoder.startCount(text, left, slice);
  // Above `left`, the encoder stopped early: the figure is not the text's count.
  if (typeof started === 'number' && started <= left) remembered.remember(text, started);
  return started;
}

/** Goes on with a count `startText` left under way: `total` and the text's tokens. */
function* finishText(
  total: number,
  text: string,
  left: number,
  counting: CountUnderWay,
  encoder: Encoder,
  remembered: TextCounts,
): Steps<number> {
  const counted = yield* encoder.finishCount(counting);
  if (counted <= left) remembered.remember(text, counted);
  return total + counted;
}

/** Adds up parts; with a limit, each text is counted only up to what is left of it. */
function* sumTokens(parts: Iterable<MessagePart>, model: ModelInfo, limit: number | undefined, slice: Slice): Steps<number> {
  const encoder = getEncoder(model.encoding);
  const remembered = textCountsOf(model.encoding);
  const bound = limit ?? Infinity;
  let total = 0;
  for (const part of parts) {
    if (typeof part === 'number') {
      total += part;
    } else if (typeof part === 'object') {
      total += countImageTokens(part, model.image);
    } else {
      const left = bound - total;
      const started = startText(part, left, encoder, remembered, slice);
      total = typeof started === 'number' ? total + started : yield* finishText(total, part, left, started, encoder, remembered);
      // Many short texts add up too: look at the clock after each.
      if (slice.due()) yield;
    }
    if (total > bound) return total;
  }
  return total;
}
