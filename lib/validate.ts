// Reads an untrusted chat request: messages, tools and the body parameters safe to forward.
import type { ChatMessage, ChatRole, ContentPart, ToolCall, ToolDefinition } from './messages';
import { BudgetRefusal } from './refusal';

/** Deepest JSON a tool schema or response format may nest; deeper is junk, not a schema. */
export const MAX_SCHEMA_DEPTH = 32;
/** The API's own limit on tools per request. */
const MAX_TOOLS = 128;

const ROLES = new Set<ChatRole>(['system', 'developer', 'user', 'assistant', 'tool']);

export function invalid(message: string): BudgetRefusal {
  return new BudgetRefusal('invalid_request', message);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A client value in an error message: a short quoted string, or only its type (never `String(value)`, which runs client-shaped objects' methods). */
function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where} must be a string.`);
  return value;
}

function readContentPart(part: unknown, role: ChatRole, where: string): ContentPart {
  if (!isObject(part)) throw invalid(`${where} must be an object.`);
  if (part.type === 'text') {
    if (typeof part.text !== 'string') throw invalid(`${where}.text must be a string.`);
    return { type: 'text', text: part.text };
  }
  if (part.type === 'image_url' && role === 'user') {
    const image = part.image_url;
    if (!isObject(image) || typeof image.url !== 'string') throw invalid(`${where}.image_url.url must be a string.`);
    const detail = image.detail;
    if (detail !== undefined && detail !== 'low' && detail !== 'high' && detail !== 'auto') {
      throw invalid(`${where}.image_url.detail must be "low", "high" or "auto".`);
    }
    return { type: 'image_url', image_url: detail === undefined ? { url: image.url } : { url: image.url, detail } };
  }
  throw invalid(`${where}.type ${describe(part.type)} is not supported for ${role} messages.`);
}

function readContent(content: unknown, role: ChatRole, hasToolCalls: boolean, where: string): ChatMessage['content'] {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) {
    if (role === 'assistant' && hasToolCalls) return null;
    throw invalid(`${where}.content is required for ${role} messages.`);
  }
  if (!Array.isArray(content)) throw invalid(`${where}.content must be a string or an array of content parts.`);
  return content.map((part, i) => readContentPart(part, role, `${where}.content[${i}]`));
}

function readToolCalls(value: unknown, where: string): ToolCall[] {
  if (!Array.isArray(value)) throw invalid(`${where}.tool_calls must be an array.`);
  return value.map((call, i) => {
    const at = `${where}.tool_calls[${i}]`;
    if (!isObject(call) || typeof call.id !== 'string' || !isObject(call.function)) {
      throw invalid(`${at} must have a string id and a function.`);
    }
    const { name, arguments: args } = call.function;
    if (typeof name !== 'string' || typeof args !== 'string') {
      throw invalid(`${at}.function needs a string name and string arguments.`);
    }
    return { id: call.id, type: 'function', function: { name, arguments: args } };
  });
}

/**
 * Reads entry `index` of a message list. Its name in error messages, `where(index)`, is
 * built only when it is needed: a valid message of a role and a text needs none.
 */
function readMessage(value: unknown, index: number, where: (i: number) => string): ChatMessage {
  if (!isObject(value)) throw invalid(`${where(index)} must be an object.`);
  const role = value.role as ChatRole;
  if (!ROLES.has(role)) {
    throw invalid(`${where(index)}.role must be one of ${[...ROLES].join(', ')}; got ${describe(value.role)}.`);
  }
  const toolCalls =
    role === 'assistant' && value.tool_calls !== undefined ? readToolCalls(value.tool_calls, where(index)) : undefined;
  const content =
    typeof value.content === 'string' ? value.content : readContent(value.content, role, toolCalls !== undefined, where(index));
  const message: ChatMessage = { role, content };
  if (value.name !== undefined) message.name = optionalString(value.name, `${where(index)}.name`);
  if (toolCalls) message.tool_calls = toolCalls;
  if (role === 'tool') {
    const id = optionalString(value.tool_call_id, `${where(index)}.tool_call_id`);
    if (id === undefined) throw invalid(`${where(index)}.tool_call_id is required for tool messages.`);
    message.tool_call_id = id;
  }
  return message;
}

const messageAt = (i: number) => `messages[${i}]`;

/** Checks the `name` array (at most `maxEntries`, not empty) and returns it. */
export function readList(value: unknown, name: string, maxEntries: number): unknown[] {
  if (value === undefined) throw invalid(`The request needs a "${name}" array (send JSON with Content-Type: application/json).`);
  if (!Array.isArray(value)) throw invalid(`"${name}" must be an array.`);
  if (value.length === 0) throw invalid(`"${name}" must not be empty.`);
  if (value.length > maxEntries) throw invalid(`"${name}" has ${value.length} entries; at most ${maxEntries} are accepted.`);
  return value;
}

/**
 * Checks `messages` and returns clean copies holding only the fields the API knows;
 * `where(i)` names an entry in error messages (a Responses `input` item read as a message).
 */
export function readMessages(value: unknown, maxMessages: number, where: (i: number) => string = messageAt): ChatMessage[] {
  const list = readList(value, 'messages', maxMessages);
  const messages = new Array<ChatMessage>(list.length);
  for (let i = 0; i < list.length; i++) messages[i] = readMessage(list[i], i, where);
  return messages;
}

export function depthExceeds(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit === 0) return true;
  for (const child of Object.values(value)) {
    if (depthExceeds(child, limit - 1)) return true;
  }
  return false;
}

function readSchemaLike(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw invalid(`${where} must be an object.`);
  if (depthExceeds(value, MAX_SCHEMA_DEPTH)) throw invalid(`${where} nests deeper than ${MAX_SCHEMA_DEPTH} levels.`);
  return value;
}

const isStringList = (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Function parameters: the parts the token counting reads must have the JSON Schema types it expects. */
function readToolParameters(value: unknown, where: string): Record<string, unknown> {
  const parameters = readSchemaLike(value, where);
  if (parameters.properties === undefined) return parameters;
  if (!isObject(parameters.properties)) throw invalid(`${where}.properties must be an object.`);
  for (const [key, property] of Object.entries(parameters.properties)) {
    const at = `${where}.properties.${key.slice(0, 40)}`;
    if (!isObject(property)) throw invalid(`${at} must be an object.`);
    if (property.enum !== undefined && !Array.isArray(property.enum)) throw invalid(`${at}.enum must be an array.`);
    if (property.description !== undefined && typeof property.description !== 'string') {
      throw invalid(`${at}.description must be a string.`);
    }
    if (property.type !== undefined && typeof property.type !== 'string' && !isStringList(property.type)) {
      throw invalid(`${at}.type must be a string or an array of strings.`);
    }
  }
  return parameters;
}

/** Checks `tools` (function definitions); they are counted as input and forwarded. */
export function readTools(value: unknown): ToolDefinition[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw invalid('"tools" must be an array.');
  if (value.length > MAX_TOOLS) throw invalid(`"tools" has ${value.length} entries; at most ${MAX_TOOLS} are accepted.`);
  return value.map((tool, i) => {
    const where = `tools[${i}]`;
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function)) {
      throw invalid(`${where} must be { type: "function", function: { name, ... } }.`);
    }
    const fn = tool.function;
    if (typeof fn.name !== 'string') throw invalid(`${where}.function.name must be a string.`);
    const definition: ToolDefinition = { type: 'function', function: { name: fn.name } };
    const description = optionalString(fn.description, `${where}.function.description`);
    if (description !== undefined) definition.function.description = description;
    if (fn.parameters !== undefined)
      definition.function.parameters = readToolParameters(fn.parameters, `${where}.function.parameters`);
    if (typeof fn.strict === 'boolean') definition.function.strict = fn.strict;
    return definition;
  });
}

export type ParamCheck = (value: unknown) => boolean;

export const isNumberIn =
  (min: number, max: number): ParamCheck =>
  (v) =>
    typeof v === 'number' && v >= min && v <= max;
export const isBoolean: ParamCheck = (v) => typeof v === 'boolean';

/**
 * Body parameters forwarded to the model, each with its check. Anything else — a
 * client-chosen `model`, `max_tokens`, `n` (which multiplies output), a `user` or
 * `safety_identifier` naming someone else — is dropped.
 */
const FORWARDED: [string, ParamCheck][] = Object.entries({
  temperature: isNumberIn(0, 2),
  top_p: isNumberIn(0, 1),
  frequency_penalty: isNumberIn(-2, 2),
  presence_penalty: isNumberIn(-2, 2),
  seed: Number.isSafeInteger,
  top_logprobs: (v) => Number.isInteger(v) && isNumberIn(0, 20)(v),
  logprobs: isBoolean,
  parallel_tool_calls: isBoolean,
  reasoning_effort: (v) => typeof v === 'string' && v.length <= 16,
  stop: (v) => typeof v === 'string' || (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string')),
  tool_choice: (v) => typeof v === 'string' || (isObject(v) && !depthExceeds(v, 4)),
  response_format: (v) => isObject(v) && !depthExceeds(v, MAX_SCHEMA_DEPTH),
  logit_bias: (v) => isObject(v) && Object.values(v).every((b) => typeof b === 'number'),
} satisfies Record<string, ParamCheck>);

/** The names of the chat-completions parameters forwarded to the model. */
export const CHAT_PARAMS: ReadonlySet<string> = new Set(FORWARDED.map(([name]) => name));

/**
 * Picks the forwardable parameters (`forwarded`, chat completions' by default) out of a
 * body; a wrong type is a 400, not a silent drop. `stream` is llmHandler's.
 */
export function readForwardParams(
  body: Record<string, unknown>,
  forwarded: readonly [string, ParamCheck][] = FORWARDED,
): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [name, check] of forwarded) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (!check(value)) throw invalid(`"${name}" has an invalid value.`);
    params[name] = value;
  }
  return params;
}

/** The body as an object, or a 400 saying that it is not one. */
export function readBody(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw invalid('The request body must be a JSON object (send Content-Type: application/json).');
  return body;
}
