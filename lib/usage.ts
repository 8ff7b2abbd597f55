// What a model call billed: the usage it reported, or its reply counted when it reported none.
import type { CallUsage } from './store/types';
import { getEncoder } from './tokens/encoder';
import type { EncodingName } from './tokens/models';

/** Token usage as the chat-completions API reports it. */
export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  /** Prompt tokens served from the provider's cache (billed at the cached-input price). */
  prompt_tokens_details?: { cached_tokens?: number } | null;
  /** Reasoning tokens are part of `completion_tokens`. */
  completion_tokens_details?: { reasoning_tokens?: number } | null;
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
  if (isCount(usage?.prompt_tokens) && isCount(usage?.completion_tokens)) {
    const input = Math.round(usage.prompt_tokens);
    const cached = usage.prompt_tokens_details?.cached_tokens;
    return {
      input,
      cachedInput: isCount(cached) ? Math.min(input, Math.round(cached)) : 0,
      output: Math.round(usage.completion_tokens),
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
 * The output tokens of a chat completion counted from its messages (text, refusal,
 * tool-call names and arguments), for a reply that came without usage; undefined
 * when `reply` is not a chat completion at all.
 */
export function countReplyTokens(reply: unknown, encoding: EncodingName): number | undefined {
  const choices = (reply as { choices?: unknown } | null | undefined)?.choices;
  if (!Array.isArray(choices)) return undefined;
  const encoder = getEncoder(encoding);
  let tokens = 0;
  for (const choice of choices) {
    const message = (choice as { message?: unknown } | null)?.message;
    if (typeof message !== 'object' || message === null) continue;
    for (const text of generatedTexts(message as Record<string, unknown>)) tokens += encoder.count(text);
  }
  return tokens;
}
