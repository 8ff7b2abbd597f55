// The prompt counter budgets use: fixed costs once, then message by message with an early exit.
import type { PromptCounter } from '../degrade/truncate';
import type { ChatMessage, ToolDefinition } from '../messages';
import { countMessageTokens, countToolsTokens, REPLY_PRIMING_TOKENS } from './chat';
import type { ModelInfo } from './models';

/** Counts prompts of `model` carrying `tools` (a resolved ModelInfo, so fallback encodings work too). */
export function promptCounter(model: ModelInfo, tools: ToolDefinition[] | undefined): PromptCounter {
  return {
    fixed: REPLY_PRIMING_TOKENS + countToolsTokens(tools ?? [], model),
    message: (message, limit) => countMessageTokens(message, model, limit),
  };
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
