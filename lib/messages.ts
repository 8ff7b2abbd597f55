// Chat message shapes (the chat-completions wire format) that budgets count and degrade.

/** A text part of a message's content array. */
export interface TextPart {
  type: 'text';
  text: string;
}

/** An image part; `detail` defaults to `auto`, which is counted as `high`. */
export interface ImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'low' | 'high' | 'auto' };
}

export type ContentPart = TextPart | ImagePart;

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

/** One chat message as the API takes it. */
export interface ChatMessage {
  role: ChatRole;
  content: string | ContentPart[] | null;
  name?: string;
  /** Assistant messages: the tools the model asked to call. */
  tool_calls?: ToolCall[];
  /** Tool messages: which call this is the result of. */
  tool_call_id?: string;
}

/** A JSON Schema, as far as tool counting reads it. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  [key: string]: unknown;
}

/** A tool definition as the API takes it in `tools`. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: JsonSchema; strict?: boolean };
}
