// Model name → what counting and calling need to know about it (encoding, context window, output limit, framing, images).
import { TokenBudgetConfigError } from '../config-error';
import { imageRuleOf, unpublishedImageRuleOf, type ImageCost } from './images';

/** The BPE encodings that current OpenAI chat models use. */
export type EncodingName = 'o200k_base' | 'cl100k_base';

export type { ImageCost } from './images';

export interface ModelInfo {
  /** The family this name resolved to, e.g. `gpt-4o` for `gpt-4o-2024-08-06`. */
  family: string;
  encoding: EncodingName;
  /** Most tokens of prompt and completion together, or `undefined` when not known. */
  contextWindow: number | undefined;
  /** Largest completion the model can produce, or `undefined` when not known. */
  maxOutputTokens: number | undefined;
  /** Most prompt tokens, when less than the context window less the output (gpt-5: 272,000 of 400,000). */
  maxInputTokens: number | undefined;
  /** Framing of every message besides its texts (cookbook `tokens_per_message`). */
  tokensPerMessage: number;
  /** What a `name` adds besides its text (cookbook `tokens_per_name`; −1 where the name replaces the role). */
  tokensPerName: number;
  /** Tokens the API adds per function definition (OpenAI cookbook `func_init`). */
  functionInit: number;
  /** The request parameter that caps output: reasoning models reject `max_tokens`. */
  outputParam: 'max_tokens' | 'max_completion_tokens';
  /**
   * The model generates reasoning tokens it bills as output but never shows (o-series,
   * gpt-5 reasoning models), so its visible output says nothing of its cost. True for a
   * model no family matches (unknown: the rule that errs high).
   */
  hiddenReasoning: boolean;
  image: ImageCost;
}

/** Every message is framed as `<|start|>{role/name}\n{content}<|end|>\n` (cookbook). */
export const TOKENS_PER_MESSAGE = 3;
/** A message with a `name` costs one more token than its text (cookbook). */
export const TOKENS_PER_NAME = 1;

type FamilyRow = Omit<ModelInfo, 'family' | 'image'>;

interface RowOptions {
  /** The model refuses `max_tokens` (reasoning models); every chat model takes `max_completion_tokens`. */
  maxCompletionTokens?: boolean;
  /** gpt-3.5-turbo-0301's framing: 4 per message, and a name replaces the role (−1). */
  framing0301?: boolean;
  /** A prompt limit of its own, below the context window. */
  maxInputTokens?: number;
  /** Bills reasoning tokens it never shows. */
  hiddenReasoning?: boolean;
}

const row = (encoding: EncodingName, contextWindow: number, maxOutputTokens: number, options: RowOptions = {}): FamilyRow => ({
  encoding,
  contextWindow,
  maxOutputTokens,
  maxInputTokens: options.maxInputTokens,
  tokensPerMessage: options.framing0301 ? 4 : TOKENS_PER_MESSAGE,
  tokensPerName: options.framing0301 ? -1 : TOKENS_PER_NAME,
  functionInit: encoding === 'cl100k_base' ? 10 : 7,
  outputParam: options.maxCompletionTokens ? 'max_completion_tokens' : 'max_tokens',
  hiddenReasoning: options.hiddenReasoning ?? false,
});

const reasoning = { maxCompletionTokens: true, hiddenReasoning: true };
// gpt-5's context is 400,000 tokens but a prompt may use 272,000 of them. gpt-5.4 and
// gpt-5.5 list a 1.05 M context, billed at twice the price above 272,000 input tokens;
// they keep this row, so a prompt never reaches that tier.
const gpt5 = { ...reasoning, maxInputTokens: 272_000 };

// Context window / max output from OpenAI's model pages. A name resolves to the
// longest family it starts with, followed by nothing or by '-' (a dated snapshot
// `gpt-4o-2024-08-06`, a variant); a snapshot whose limits differ has a row of its own.
const FAMILIES: Record<string, FamilyRow> = {
  'gpt-3.5-turbo': row('cl100k_base', 16_385, 4_096),
  'gpt-3.5-turbo-0301': row('cl100k_base', 4_096, 4_096, { framing0301: true }),
  'gpt-3.5-turbo-0613': row('cl100k_base', 4_096, 4_096),
  'gpt-3.5-turbo-16k': row('cl100k_base', 16_385, 4_096),
  'gpt-35-turbo': row('cl100k_base', 16_385, 4_096), // Azure's spelling
  'gpt-35-turbo-0301': row('cl100k_base', 4_096, 4_096, { framing0301: true }),
  'gpt-35-turbo-0613': row('cl100k_base', 4_096, 4_096),
  'gpt-35-turbo-16k': row('cl100k_base', 16_385, 4_096),
  'gpt-4': row('cl100k_base', 8_192, 8_192),
  'gpt-4-32k': row('cl100k_base', 32_768, 32_768),
  'gpt-4-turbo': row('cl100k_base', 128_000, 4_096),
  'gpt-4-1106-preview': row('cl100k_base', 128_000, 4_096),
  'gpt-4-0125-preview': row('cl100k_base', 128_000, 4_096),
  'gpt-4-vision-preview': row('cl100k_base', 128_000, 4_096),
  'gpt-4-1106-vision-preview': row('cl100k_base', 128_000, 4_096),
  'gpt-4o': row('o200k_base', 128_000, 16_384),
  'gpt-4o-2024-05-13': row('o200k_base', 128_000, 4_096),
  'chatgpt-4o-latest': row('o200k_base', 128_000, 16_384),
  'gpt-4o-mini': row('o200k_base', 128_000, 16_384),
  'gpt-4.1': row('o200k_base', 1_047_576, 32_768),
  'gpt-4.1-mini': row('o200k_base', 1_047_576, 32_768),
  'gpt-4.1-nano': row('o200k_base', 1_047_576, 32_768),
  'gpt-4.5': row('o200k_base', 128_000, 16_384),
  o1: row('o200k_base', 200_000, 100_000, reasoning),
  'o1-preview': row('o200k_base', 128_000, 32_768, reasoning),
  'o1-mini': row('o200k_base', 128_000, 65_536, reasoning),
  'o1-pro': row('o200k_base', 200_000, 100_000, reasoning),
  o3: row('o200k_base', 200_000, 100_000, reasoning),
  'o3-mini': row('o200k_base', 200_000, 100_000, reasoning),
  'o3-pro': row('o200k_base', 200_000, 100_000, reasoning),
  'o4-mini': row('o200k_base', 200_000, 100_000, reasoning),
  'gpt-5': row('o200k_base', 400_000, 128_000, gpt5),
  'gpt-5-mini': row('o200k_base', 400_000, 128_000, gpt5),
  'gpt-5-nano': row('o200k_base', 400_000, 128_000, gpt5),
  // The chat model behind ChatGPT: no reasoning, but it takes only `max_completion_tokens`.
  'gpt-5-chat-latest': row('o200k_base', 128_000, 16_384, { maxCompletionTokens: true }),
};

/**
 * Families whose point releases (`gpt-5.1`, `gpt-5.2-chat-latest`) share their rows:
 * the release number is dropped before the lookup. Any other `.` after a family
 * (`gpt-4.7`, `gpt-4.1x`) makes an unknown name, not a lookalike's.
 */
const POINT_RELEASES = /^(gpt-5)\.(\d+)(?=$|-)/;
/** The first point release whose image rule is not published (gpt-5.2). */
const FIRST_UNPUBLISHED_IMAGE_RELEASE = 2;

const FAMILY_NAMES = Object.keys(FAMILIES).sort((a, b) => b.length - a.length);

/** The base model of a fine-tune (`ft:gpt-4o-mini:org::id` → `gpt-4o-mini`), or the name itself. */
const withoutFineTune = (model: string) => (model.startsWith('ft:') ? model.slice(3).split(':')[0]! : model);

/**
 * A router's name for a model (`openai/gpt-4o`, `azure/openai/gpt-4o-mini`) without its
 * prefixes: the part after the last `/`. A name without `/` is itself.
 */
export const withoutRouterPrefix = (model: string): string => model.slice(model.lastIndexOf('/') + 1);

/**
 * Resolves a model name to its family's facts, or `undefined` for a name no
 * family matches. Fine-tuned names (`ft:gpt-4o-mini:org::id`) resolve to their base;
 * a router's name (`openai/gpt-4o`) resolves as the name after its last `/`.
 */
export function lookupModel(model: string): ModelInfo | undefined {
  const named = withoutFineTune(withoutRouterPrefix(model));
  const release = POINT_RELEASES.exec(named);
  const name = named.replace(POINT_RELEASES, '$1');
  const imageRule = release && Number(release[2]) >= FIRST_UNPUBLISHED_IMAGE_RELEASE ? unpublishedImageRuleOf : imageRuleOf;
  for (const family of FAMILY_NAMES) {
    if (name === family || (name.startsWith(family) && name[family.length] === '-')) {
      return { family, ...FAMILIES[family]!, image: imageRule(family) };
    }
  }
  return undefined;
}

/** As `lookupModel`, for callers that cannot go on without knowing the model (TB_UNKNOWN_MODEL). */
export function requireModel(model: string): ModelInfo {
  const info = lookupModel(model);
  if (info) return info;
  throw new TokenBudgetConfigError(
    'TB_UNKNOWN_MODEL',
    `"${model}" is not a known OpenAI model, so its token encoding is unknown; use a known model name, or configure unknownModelEncoding.`,
  );
}

/** The facts used for a model no family matches, when a fallback encoding is configured. */
export function fallbackModel(model: string, encoding: EncodingName): ModelInfo {
  return {
    ...row(encoding, 0, 0),
    family: model,
    contextWindow: undefined,
    maxOutputTokens: undefined,
    maxInputTokens: undefined,
    hiddenReasoning: true,
    image: imageRuleOf(model),
  };
}

/** A snapshot date at the end of a model name: `-2024-08-06`, or `-0613` in the older style. */
export const SNAPSHOT_DATE = /-(?:\d{4}-\d{2}-\d{2}|\d{4})$/;

// The dated snapshots OpenAI (and Azure, for gpt-35-turbo) has published, from the model pages.
const LISTED_SNAPSHOTS = new Set([
  ...['0301', '0613', '1106', '0125'].flatMap((date) => [`gpt-3.5-turbo-${date}`, `gpt-35-turbo-${date}`]),
  'gpt-3.5-turbo-16k-0613',
  'gpt-35-turbo-16k-0613',
  'gpt-4-0314',
  'gpt-4-0613',
  'gpt-4-32k-0314',
  'gpt-4-32k-0613',
  'gpt-4-turbo-2024-04-09',
  'gpt-4o-2024-05-13',
  'gpt-4o-2024-08-06',
  'gpt-4o-2024-11-20',
  'gpt-4o-mini-2024-07-18',
  'gpt-4.1-2025-04-14',
  'gpt-4.1-mini-2025-04-14',
  'gpt-4.1-nano-2025-04-14',
  'o1-2024-12-17',
  'o1-preview-2024-09-12',
  'o1-mini-2024-09-12',
  'o1-pro-2025-03-19',
  'o3-2025-04-16',
  'o3-mini-2025-01-31',
  'o3-pro-2025-06-10',
  'o4-mini-2025-04-16',
  'gpt-5-2025-08-07',
  'gpt-5-mini-2025-08-07',
  'gpt-5-nano-2025-08-07',
  'gpt-5.1-2025-11-13',
  'gpt-5.2-2025-12-11',
]);

/**
 * True for a name that reads as a dated snapshot of a family (`gpt-4o-2099-01-01`)
 * but is not one OpenAI has listed: it gets its family's rows, which may not be its own.
 */
export function isUnlistedSnapshot(model: string): boolean {
  const named = withoutFineTune(withoutRouterPrefix(model));
  if (!SNAPSHOT_DATE.test(named) || LISTED_SNAPSHOTS.has(named)) return false;
  const info = lookupModel(named);
  return info !== undefined && named.replace(SNAPSHOT_DATE, '').replace(POINT_RELEASES, '$1') === info.family;
}

/** Every family name, longest first (for tests and docs). */
export const MODEL_FAMILIES: readonly string[] = FAMILY_NAMES;
