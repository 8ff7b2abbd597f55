// Prompt tokens of tool definitions: the OpenAI cookbook's `num_tokens_for_tools` rules, extended to nested schemas.
import type { JsonSchema, ToolDefinition } from '../messages';

/** Opens the property list of a function that has parameters (cookbook `prop_init`). */
export const PROPERTIES_INIT_TOKENS = 3;
/** Per property (cookbook `prop_key`). */
export const PROPERTY_TOKENS = 3;
/** Once per property with an `enum` (cookbook `enum_init`, negative). */
export const ENUM_INIT_TOKENS = -3;
/** Per enum value, besides the value's own tokens (cookbook `enum_item`). */
export const ENUM_ITEM_TOKENS = 3;
/** Once per request that has any tools (cookbook `func_end`). */
export const TOOLS_END_TOKENS = 12;

/** What a prompt is made of for counting: a text to encode, or a fixed number of tokens. */
export type TokenPart = string | number;

/**
 * The texts and fixed token counts that `tools` add to a prompt, in order.
 * `functionInit` is the model's per-function overhead (`ModelInfo.functionInit`).
 *
 * The cookbook formula reads only names, descriptions, property types and enums.
 * Anything else in a schema (nested `properties` and `items`, `anyOf`, `$defs`,
 * constraints, `additionalProperties`) is beyond what it measured: it is counted as
 * the tokens of its JSON text, an estimate meant to err high, since JSON spells out
 * every key, quote and brace.
 *
 * Every fixed count yielded is ≥ 0 (the enum's −3 is folded into its property), so a
 * running total never drops back under a limit it has passed.
 */
export function* toolTokenParts(tools: readonly ToolDefinition[], functionInit: number): Generator<TokenPart> {
  if (tools.length === 0) return;
  for (const { function: definition } of tools) {
    yield functionInit;
    yield `${definition.name}:${withoutFullStop(definition.description ?? '')}`;
    if (definition.parameters) yield* parametersParts(definition.parameters);
  }
  yield TOOLS_END_TOKENS;
}

function* parametersParts(parameters: JsonSchema): Generator<TokenPart> {
  const entries = Object.entries(parameters.properties ?? {});
  if (entries.length > 0) {
    yield PROPERTIES_INIT_TOKENS;
    for (const [key, property] of entries) yield* propertyParts(key, property);
  }
  yield* jsonOfUnread(parameters, READ_IN_PARAMETERS);
}

function* propertyParts(key: string, property: JsonSchema): Generator<TokenPart> {
  const values = property.enum ?? [];
  yield PROPERTY_TOKENS + (property.enum ? ENUM_INIT_TOKENS + ENUM_ITEM_TOKENS * values.length : 0);
  for (const value of values) yield typeof value === 'string' ? value : JSON.stringify(value);
  yield `${key}:${typeName(property.type)}:${withoutFullStop(property.description ?? '')}`;
  yield* jsonOfUnread(property, READ_IN_PROPERTY);
}

// What the formula reads. `type: 'object'` and `required` are in the cookbook's
// example, whose count matched the API's without them.
const READ_IN_PARAMETERS: ReadonlySet<string> = new Set(['type', 'properties', 'required']);
const READ_IN_PROPERTY: ReadonlySet<string> = new Set(['type', 'description', 'enum']);

function* jsonOfUnread(schema: JsonSchema, read: ReadonlySet<string>): Generator<TokenPart> {
  const unread = Object.entries(schema).filter(([key]) => !read.has(key));
  if (unread.length > 0) yield JSON.stringify(Object.fromEntries(unread));
}

// A union type (`['string', 'null']`) the way a TypeScript-like rendering would say it.
const typeName = (type: JsonSchema['type']) => (Array.isArray(type) ? type.join(' | ') : (type ?? ''));

const withoutFullStop = (text: string) => (text.endsWith('.') ? text.slice(0, -1) : text);
