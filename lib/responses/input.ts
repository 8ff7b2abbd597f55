// Budgeted chat messages and tools back in the Responses API's shape: input items, instructions, function tools.
import type { ChatMessage, ContentPart, ToolDefinition } from '../messages';
import { isInstructions } from './request';

/** One Responses input item, as the openai SDK's `ResponseInputItem` takes it. */
export type ResponseInputItem =
  | { role: 'system' | 'developer' | 'user' | 'assistant'; content: string | ResponseInputPart[] }
  | { type: 'function_call'; call_id: string; name: string; arguments: string }
  | { type: 'function_call_output'; call_id: string; output: string };

export type ResponseInputPart =
  { type: 'input_text'; text: string } | { type: 'input_image'; image_url: string; detail: 'low' | 'high' | 'auto' };

/** A function tool in the Responses shape. */
export interface ResponseFunctionTool {
  type: 'function';
  name: string;
  description?: string;
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}

const joinedText = (content: ChatMessage['content']): string =>
  typeof content === 'string' ? content : (content ?? []).map((part) => (part.type === 'text' ? part.text : '')).join('');

function inputPart(part: ContentPart): ResponseInputPart {
  if (part.type === 'text') return { type: 'input_text', text: part.text };
  return { type: 'input_image', image_url: part.image_url.url, detail: part.image_url.detail ?? 'auto' };
}

/** The input items one message stands for: a message, or an assistant's function calls, or a call's output. */
function* inputItems(message: ChatMessage): Generator<ResponseInputItem> {
  if (message.role === 'tool') {
    yield { type: 'function_call_output', call_id: message.tool_call_id ?? '', output: joinedText(message.content) };
    return;
  }
  if (message.role === 'assistant') {
    const text = joinedText(message.content);
    if (text.length > 0 || !message.tool_calls?.length) yield { role: 'assistant', content: text };
    for (const call of message.tool_calls ?? []) {
      yield { type: 'function_call', call_id: call.id, name: call.function.name, arguments: call.function.arguments };
    }
    return;
  }
  const { content } = message;
  yield { role: message.role, content: typeof content === 'string' ? content : (content ?? []).map(inputPart) };
}

/** `input` and `instructions` of the call, from the budgeted messages (the instructions message comes back as `instructions`). */
export function responseInput(messages: readonly ChatMessage[]): { input: ResponseInputItem[]; instructions?: string } {
  const instructions = messages.find(isInstructions);
  const input = messages.filter((message) => message !== instructions).flatMap((message) => [...inputItems(message)]);
  return instructions ? { input, instructions: joinedText(instructions.content) } : { input };
}

/** Function tools in the Responses shape. */
export const responseTools = (tools: readonly ToolDefinition[]): ResponseFunctionTool[] =>
  tools.map(({ function: fn }) => ({
    type: 'function',
    name: fn.name,
    ...(fn.description === undefined ? {} : { description: fn.description }),
    parameters: fn.parameters ?? null,
    strict: fn.strict ?? null,
  }));
