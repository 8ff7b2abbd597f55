// The prompt counter budgets use: fixed costs once, then message by message with an early exit, in slices of the event loop.
import type { ChatMessage, ToolDefinition } from '../messages';
import { messageTokenSteps, REPLY_PRIMING_TOKENS, toolsTokenSteps } from './chat';
import { getEncoder } from './encoder';
import type { ModelInfo } from './models';
import type { PromptCounter } from './prompt-counter';
import type { Slice, Steps } from './slice';

/**
 * Forwarded parameters that reach the model as prompt text: a structured-output
 * schema (chat `response_format`, Responses `text`) and a named tool choice. Nothing official says how they are framed; their
 * JSON text is counted, an estimate that errs high.
 */
const PROMPT_PARAMS = ['response_format', 'text', 'tool_choice'] as const;

/** A prompt parameter's value that reaches the model as text: an object (a keyword such as `'auto'` does not). */
const isPromptText = (value: unknown): value is object => typeof value === 'object' && value !== null;

/** The counter of each model's prompts without tools or prompt parameters, as most are: made once, not per request. */
const plainCounters = new WeakMap<ModelInfo, PromptCounter>();

function plainCounterOf(model: ModelInfo): PromptCounter {
  let counter = plainCounters.get(model);
  if (!counter) {
    counter = {
      fixed: REPLY_PRIMING_TOKENS,
      message: (message, limit, slice) => messageTokenSteps(message, model, limit, slice),
    };
    plainCounters.set(model, counter);
  }
  return counter;
}

/** `promptCounter`'s result, without its work, for a prompt with no tools and none of `PROMPT_PARAMS`; else undefined. */
export function plainPromptCounter(
  model: ModelInfo,
  tools: ToolDefinition[] | undefined,
  params: Record<string, unknown>,
): PromptCounter | undefined {
  if (tools?.length) return undefined;
  for (const name of PROMPT_PARAMS) if (isPromptText(params[name])) return undefined;
  return plainCounterOf(model);
}

/**
 * Counts prompts of `model` carrying `tools` and `params` (a resolved ModelInfo, so
 * fallback encodings work too). The fixed part is counted only up to `limit`, like
 * the messages: a 1 MB tool description is judged, not counted whole.
 */
export function* promptCounter(
  model: ModelInfo,
  tools: ToolDefinition[] | undefined,
  params: Record<string, unknown>,
  limit: number,
  slice: Slice,
): Steps<PromptCounter> {
  const encoder = getEncoder(model.encoding);
  // Most requests have no tools: no steps to run for them.
  let fixed = REPLY_PRIMING_TOKENS + (tools?.length ? yield* toolsTokenSteps(tools, model, limit, slice) : 0);
  for (const name of PROMPT_PARAMS) {
    const value = params[name];
    if (isPromptText(value) && fixed <= limit) {
      fixed += yield* encoder.countUpToSteps(JSON.stringify(value), Math.max(0, limit - fixed), slice);
    }
  }
  return { fixed, message: plainCounterOf(model).message };
}

/** Prompt tokens of `messages`: exact up to `limit`, otherwise a number above it found early. */
export function* countPrompt(
  messages: readonly ChatMessage[],
  counter: PromptCounter,
  limit: number,
  slice: Slice,
): Steps<number> {
  let total = counter.fixed;
  for (const message of messages) {
    if (total > limit) return total;
    const tokens = counter.message(message, limit - total, slice);
    total += typeof tokens === 'number' ? tokens : yield* tokens;
  }
  return total;
}
