// Reads an untrusted Responses API request (input, instructions, tools) as the chat messages budgets count and degrade.
import type { ChatMessage, ToolDefinition } from '../messages';
import {
  depthExceeds,
  invalid,
  isBoolean,
  isNumberIn,
  isObject,
  MAX_SCHEMA_DEPTH,
  readForwardParams,
  readList,
  readMessages,
  readTools,
  type ParamCheck,
} from '../validate';

/** A Responses request as budgets see it: its input as messages (instructions first), its tools, what is forwarded. */
export interface ResponsesRequest {
  messages: ChatMessage[];
  tools: ToolDefinition[] | undefined;
  forwardParams: Record<string, unknown>;
}

/**
 * Parameters that stand for a prompt the budget cannot see (a stored response, a
 * conversation, a prompt template): the provider re-reads and bills it, so it cannot be counted.
 */
const HIDDEN_PROMPT_PARAMS = ['previous_response_id', 'conversation', 'prompt'];

/** Responses body parameters forwarded to the model, each with its check; anything else is dropped. */
const FORWARDED: [string, ParamCheck][] = Object.entries({
  temperature: isNumberIn(0, 2),
  top_p: isNumberIn(0, 1),
  top_logprobs: (v) => Number.isInteger(v) && isNumberIn(0, 20)(v),
  parallel_tool_calls: isBoolean,
  store: isBoolean,
  tool_choice: (v) => typeof v === 'string' || (isObject(v) && !depthExceeds(v, 4)),
  reasoning: (v) => isObject(v) && !depthExceeds(v, 2),
  text: (v) => isObject(v) && !depthExceeds(v, MAX_SCHEMA_DEPTH),
} satisfies Record<string, ParamCheck>);

/** The names of the Responses parameters forwarded to the model. */
export const RESPONSES_PARAMS: ReadonlySet<string> = new Set(FORWARDED.map(([name]) => name));

/** The Responses API refuses a `max_output_tokens` below this (400), where chat completions take 1. */
export const RESPONSES_MIN_OUTPUT = 16;

/** The instructions message each request's messages start with, when it has instructions (sent back as `instructions`). */
const instructionMessages = new WeakSet<ChatMessage>();

/** Whether `message` holds the request's `instructions`. */
export const isInstructions = (message: ChatMessage): boolean => instructionMessages.has(message);

/** A content part of an input message, in the chat shape (`input_text` → text, `input_image` → image_url). */
function chatPart(part: unknown, where: string): unknown {
  if (!isObject(part)) return part;
  if (part.type === 'input_text' || part.type === 'output_text') return { type: 'text', text: part.text };
  if (part.type === 'refusal') return { type: 'text', text: part.refusal };
  if (part.type === 'input_image') {
    if (typeof part.image_url !== 'string') {
      throw invalid(`${where}.image_url must be a URL: an image by file_id cannot be counted.`);
    }
    return {
      type: 'image_url',
      image_url: { url: part.image_url, ...(part.detail === undefined ? {} : { detail: part.detail }) },
    };
  }
  throw invalid(`${where}.type ${JSON.stringify(String(part.type).slice(0, 40))} is not supported (it cannot be counted).`);
}

/** The output of a function call as text: a string, or text parts. */
function outputText(output: unknown, where: string): unknown {
  if (!Array.isArray(output)) return output;
  return output.map((part, i) => chatPart(part, `${where}.output[${i}]`));
}

/** One input item in the chat message shape, for `readMessages` to check. */
function chatMessage(item: unknown, where: string): unknown {
  if (!isObject(item)) return item;
  const type = item.type ?? 'message';
  if (type === 'message') {
    const content = Array.isArray(item.content)
      ? item.content.map((part, i) => chatPart(part, `${where}.content[${i}]`))
      : item.content;
    return { role: item.role, content };
  }
  if (type === 'function_call') {
    return {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } }],
    };
  }
  if (type === 'function_call_output')
    return { role: 'tool', content: outputText(item.output, where), tool_call_id: item.call_id };
  throw invalid(`${where}.type ${JSON.stringify(String(type).slice(0, 40))} is not supported (it cannot be counted).`);
}

/** Function tools (`{ type: 'function', name, parameters }`) in the chat shape; other tools cannot be counted or priced. */
function readResponsesTools(value: unknown): ToolDefinition[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw invalid('"tools" must be an array.');
  return readTools(
    value.map((tool, i) => {
      if (!isObject(tool) || tool.type !== 'function') {
        throw invalid(`tools[${i}] must be a function tool, { type: "function", name, ... }: other tools cannot be counted.`);
      }
      const { name, description, parameters, strict } = tool;
      return { type: 'function', function: { name, description, parameters, strict } };
    }),
  );
}

/**
 * Reads a Responses body: `input` (a string, or items: messages with text and image parts,
 * function calls and their outputs) and `instructions` as messages, the instructions
 * first; function tools; the forwardable parameters. A request that names a prompt the
 * budget cannot see (`previous_response_id`, `conversation`, `prompt`) is refused.
 */
export function readResponsesRequest(body: Record<string, unknown>, maxMessages: number): ResponsesRequest {
  for (const name of HIDDEN_PROMPT_PARAMS) {
    if (body[name] !== undefined && body[name] !== null) {
      throw invalid(`"${name}" is not supported: the prompt it stands for cannot be counted. Send the whole input instead.`);
    }
  }
  const { input, instructions } = body;
  if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') {
    throw invalid('"instructions" must be a string.');
  }
  const items = typeof input === 'string' ? [{ role: 'user', content: input }] : readList(input, 'input', maxMessages);
  const messages = readMessages(
    items.map((item, i) => chatMessage(item, `input[${i}]`)),
    maxMessages,
    (i) => `input[${i}]`,
  );
  if (typeof instructions === 'string') {
    const message: ChatMessage = { role: 'system', content: instructions };
    instructionMessages.add(message);
    messages.unshift(message);
  }
  return { messages, tools: readResponsesTools(body.tools), forwardParams: readForwardParams(body, FORWARDED) };
}

/** Whether a body is written for the Responses API: it has `input` and no `messages`. */
export const isResponsesBody = (body: Record<string, unknown>): boolean =>
  body.input !== undefined && body.messages === undefined;
