// Summarize: the oldest turns that do not fit are replaced by one summary written by a cheaper model.
import { createHash } from 'node:crypto';
import type { ChatMessage } from '../messages';
import { getEncoder } from '../tokens/encoder';
import type { ModelInfo } from '../tokens/models';
import type { SummarizerConfig } from './options';

/** What `onExceed: 'summarize'` planned in `featureBudget`, carried out when the call is reserved (every budget declared by then). */
export interface SummaryPlan {
  summarizer: SummarizerConfig;
  /** The messages the summary replaces, oldest first: whole turns. */
  older: ChatMessage[];
  /** What stays whole: system and developer messages, and the newest turns. */
  kept: ChatMessage[];
  /** The feature's prompt tokens of `messages` (its model, tools and parameters). */
  count(messages: ChatMessage[]): Promise<number>;
  /** The feature's `maxInput`. */
  maxInput: number;
}

/** The heading of the message that carries the summary. */
export const SUMMARY_HEADING = 'Summary of the earlier conversation:';

function textOf(content: ChatMessage['content']): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => (part.type === 'text' ? part.text : '[image]')).join(' ');
}

/** One line per message, `role: text`; a tool call as its name and arguments. */
export function transcriptLines(messages: readonly ChatMessage[]): string[] {
  return messages.map((message) => {
    const calls = (message.tool_calls ?? []).map((call) => ` [calls ${call.function.name}(${call.function.arguments})]`);
    return `${message.role}: ${textOf(message.content)}${calls.join('')}`;
  });
}

/**
 * The newest lines that fit in `maxTokens` of `model`, oldest dropped first, and how many
 * were kept: the summary call is bounded in input like any other.
 */
export function boundedTranscript(lines: readonly string[], model: ModelInfo, maxTokens: number): { text: string; kept: number } {
  const encoder = getEncoder(model.encoding);
  let room = maxTokens;
  let first = lines.length;
  while (first > 0) {
    // Each line is joined by a newline: one token more at most.
    const cost = encoder.countUpTo(lines[first - 1]!, room) + 1;
    if (cost > room) break;
    room -= cost;
    first--;
  }
  return { text: lines.slice(first).join('\n'), kept: lines.length - first };
}

/** The summary call's messages: the instruction, then the conversation. */
export function summaryRequest(prompt: string, transcript: string): ChatMessage[] {
  return [
    { role: 'system', content: prompt },
    { role: 'user', content: transcript },
  ];
}

/** `kept` with the summary as a system message after its leading system and developer messages. */
export function withSummary(kept: readonly ChatMessage[], summary: string): ChatMessage[] {
  const at = kept.findIndex((message) => message.role !== 'system' && message.role !== 'developer');
  const index = at < 0 ? kept.length : at;
  return [...kept.slice(0, index), { role: 'system', content: `${SUMMARY_HEADING}\n${summary}` }, ...kept.slice(index)];
}

/** The `summaryCache` key: the summarizer's model and prompt, and the conversation summarized. */
export function summaryCacheKey(summarizer: Pick<SummarizerConfig, 'model' | 'prompt'>, transcript: string): string {
  const hash = createHash('sha256').update(summarizer.model).update('\0').update(summarizer.prompt).update('\0');
  return `token-budget:summary:${hash.update(transcript).digest('base64url')}`;
}

/** The text of a chat completion's first choice, or undefined when it has none. */
export function completionText(completion: unknown): string | undefined {
  const content = (completion as { choices?: { message?: { content?: unknown } }[] } | null)?.choices?.[0]?.message?.content;
  return typeof content === 'string' && content.trim() !== '' ? content : undefined;
}
