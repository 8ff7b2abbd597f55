// The prompt counter budgets use: fixed costs once, then message by message with an early exit.
import type { PromptCounter } from '../degrade/truncate';
import type { ChatMessage, ToolDefinition } from '../messages';
import { countMessageTokens, countToolsTokens, REPLY_PRIMING_TOKENS } from './chat';
import { getEncoder } from './encoder';
import type { ModelInfo } from './models';

/**
 * Forwarded parameters that reach the model as prompt text: a structured-output
 * schema and a named tool choice. Nothing official says how they are framed; their
 * JSON text is counted, an estimate that errs high.
 */
const PROMPT_PARAMS = ['response_format', 'tool_choice'] as const;

/**
 * Counts prompts of `model` carrying `tools` and `params` (a resolved ModelInfo, so
 * fallback encodings work too). The fixed part is counted only up to `limit`, like
 * the messages: a 1 MB tool description is judged, not counted whole.
 */
export function promptCounter(
  model: ModelInfo,
  tools: ToolDefinition[] | undefined,
  params: Record<string, unknown>,
  limit: number,
): PromptCounter {
  const encoder = getEncoder(model.encoding);
  let fixed = REPLY_PRIMING_TOKENS + countToolsTokens(tools ?? [], model, limit);
  for (const name of PROMPT_PARAMS) {
    const value = params[name];
    if (typeof value === 'object' && value !== null && fixed <= limit) {
      fixed += encoder.countUpTo(JSON.stringify(value), Math.max(0, limit - fixed));
    }
  }
  return { fixed, message: (message, messageLimit) => countMessageTokens(message, model, messageLimit) };
}

/** Prompt tokens of `messages`: exact up to `limit`, otherwise a number above it found early. */
export function countPrompt(messages: readonly ChatMessage[], counter: PromptCounter, limit: number): number {
  let total = counter.fixed;
  for (const message of messages) {
    if (total > limit) return total;
    total += counter.message(message, limit - total);
  }
  return total;
}
