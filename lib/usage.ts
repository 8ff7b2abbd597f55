// What a model call billed: the usage it reported (chat completions or Responses), or its reply counted when it reported none.
import type { CallUsage } from './store/types';
import { getEncoder } from './tokens/encoder';
import type { EncodingName } from './tokens/models';

/** Token usage as the chat-completions API reports it, or the Responses API (`input_tokens`, `output_tokens`). */
export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  /** Prompt tokens served from the provider's cache (billed at the cached-input price). */
  prompt_tokens_details?: { cached_tokens?: number } | null;
  /** Reasoning tokens are part of `completion_tokens`. */
  completion_tokens_details?: { reasoning_tokens?: number } | null;
  /** Responses API: prompt tokens. */
  input_tokens?: number;
  /** Responses API: output tokens, reasoning tokens included. */
  output_tokens?: number;
  input_tokens_details?: { cached_tokens?: number } | null;
  output_tokens_details?: { reasoning_tokens?: number } | null;
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** `usage` of a call's result, when it has one. */
export function usageOf(result: unknown): Usage | undefined {
  if (typeof result === 'object' && result !== null && 'usage' in result) {
    const usage = (result as { usage: unknown }).usage;
    if (typeof usage === 'object' && usage !== null) return usage as Usage;
  }
  return undefined;
}

/**
 * What `usage` says was billed, split for prices, or undefined when it says nothing
 * usable. A usage with a total alone is split at the counted input.
 */
export function billedUsage(usage: Usage | undefined, countedInput: number): CallUsage | undefined {
  const prompt = usage?.prompt_tokens ?? usage?.input_tokens;
  const completion = usage?.completion_tokens ?? usage?.output_tokens;
  if (isCount(prompt) && isCount(completion)) {
    const input = Math.round(prompt);
    const cached = (usage?.prompt_tokens_details ?? usage?.input_tokens_details)?.cached_tokens;
    return {
      input,
      cachedInput: isCount(cached) ? Math.min(input, Math.round(cached)) : 0,
      output: Math.round(completion),
    };
  }
  if (isCount(usage?.total_tokens)) {
    const total = Math.round(usage.total_tokens);
    const input = Math.min(total, countedInput);
    return { input, cachedInput: 0, output: total - input };
  }
  return undefined;
}

/** Texts of one reply message that the provider generated, and so billed as output. */
function* generatedTexts(message: Record<string, unknown>): Generator<string> {
  for (const field of ['content', 'refusal', 'reasoning_content']) {
    const text = message[field];
    if (typeof text === 'string') yield text;
  }
  const calls = [...(Array.isArray(message.tool_calls) ? message.tool_calls : []), message.function_call];
  for (const call of calls) {
    const fn = (call as { function?: unknown } | undefined)?.function ?? call;
    if (typeof fn !== 'object' || fn === null) continue;
    const { name, arguments: args } = fn as { name?: unknown; arguments?: unknown };
    if (typeof name === 'string') yield name;
    if (typeof args === 'string') yield args;
  }
}

/**
 * Texts of one Responses output item that the provider generated: a message's text and
 * refusal parts, a function call's name and arguments, a reasoning summary.
 */
export function* generatedItemTexts(item: Record<string, unknown>): Generator<string> {
  for (const field of ['name', 'arguments']) {
    const text = item[field];
    if (typeof text === 'string') yield text;
  }
  const parts = [...(Array.isArray(item.content) ? item.content : []), ...(Array.isArray(item.summary) ? item.summary : [])];
  for (const part of parts) {
    const { text, refusal } = (part ?? {}) as { text?: unknown; refusal?: unknown };
    if (typeof text === 'string') yield text;
    if (typeof refusal === 'string') yield refusal;
  }
}

/** The generated texts of a chat completion (its choices' messages) or of a Responses response (its output items). */
function* replyTexts(reply: unknown): Generator<string> {
  const { choices, output } = (reply ?? {}) as { choices?: unknown; output?: unknown };
  const records = (list: unknown[], pick: (entry: unknown) => unknown) =>
    list.map(pick).filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null);
  if (Array.isArray(choices)) {
    for (const message of records(choices, (choice) => (choice as { message?: unknown } | null)?.message)) {
      yield* generatedTexts(message);
    }
  }
  if (Array.isArray(output)) for (const item of records(output, (entry) => entry)) yield* generatedItemTexts(item);
}

/**
 * The output tokens of a reply counted from what it generated (chat completion: message
 * text, refusal, tool-call names and arguments; Responses: output items), for a reply that
 * came without usage; undefined when `reply` is neither.
 */
export function countReplyTokens(reply: unknown, encoding: EncodingName): number | undefined {
  const { choices, output } = (reply ?? {}) as { choices?: unknown; output?: unknown };
  if (!Array.isArray(choices) && !Array.isArray(output)) return undefined;
  const encoder = getEncoder(encoding);
  let tokens = 0;
  for (const text of replyTexts(reply)) tokens += encoder.count(text);
  return tokens;
}
