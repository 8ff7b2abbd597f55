// Model name → what counting and calling need to know about it (encoding, output limit, family).
import { TokenBudgetConfigError } from '../config-error';

/** The BPE encodings that current OpenAI chat models use. */
export type EncodingName = 'o200k_base' | 'cl100k_base';

/** Image token accounting of a model family (see `images.ts`). */
export type ImageCost =
  | { kind: 'tile'; base: number; perTile: number }
  | { kind: 'patch'; multiplier: number };

export interface ModelInfo {
  /** The family this name resolved to, e.g. `gpt-4o` for `gpt-4o-2024-08-06`. */
  family: string;
  encoding: EncodingName;
  /** Largest completion the model can produce, or `undefined` when not known. */
  maxOutputTokens: number | undefined;
  /** Tokens the API adds per function definition (OpenAI cookbook `func_init`). */
  functionInit: number;
  /** The request parameter that caps output: reasoning models reject `max_tokens`. */
  outputParam: 'max_tokens' | 'max_completion_tokens';
  image: ImageCost;
}

const GPT4O_IMAGES: ImageCost = { kind: 'tile', base: 85, perTile: 170 };
const O_SERIES_IMAGES: ImageCost = { kind: 'tile', base: 75, perTile: 150 };

type FamilyRow = Omit<ModelInfo, 'family'>;

const row = (
  encoding: EncodingName,
  maxOutputTokens: number,
  outputParam: ModelInfo['outputParam'] = 'max_tokens',
  image: ImageCost = GPT4O_IMAGES,
): FamilyRow => ({
  encoding,
  maxOutputTokens,
  functionInit: encoding === 'cl100k_base' ? 10 : 7,
  outputParam,
  image,
});

// Longest matching family wins; a family matches a name equal to it or followed
// by '-' or '.', so dated snapshots (`gpt-4o-2024-08-06`) and point releases
// (`gpt-5.1`) resolve without listing each one.
const FAMILIES: Record<string, FamilyRow> = {
  'gpt-3.5-turbo': row('cl100k_base', 4_096),
  'gpt-35-turbo': row('cl100k_base', 4_096),
  'gpt-4': row('cl100k_base', 8_192),
  'gpt-4-32k': row('cl100k_base', 32_768),
  'gpt-4-turbo': row('cl100k_base', 4_096),
  'gpt-4-1106-preview': row('cl100k_base', 4_096),
  'gpt-4-0125-preview': row('cl100k_base', 4_096),
  'gpt-4-vision-preview': row('cl100k_base', 4_096),
  'gpt-4o': row('o200k_base', 16_384),
  'chatgpt-4o-latest': row('o200k_base', 16_384),
  'gpt-4o-mini': row('o200k_base', 16_384, 'max_tokens', { kind: 'tile', base: 2_833, perTile: 5_667 }),
  'gpt-4.1': row('o200k_base', 32_768),
  'gpt-4.1-mini': row('o200k_base', 32_768, 'max_tokens', { kind: 'patch', multiplier: 1.62 }),
  'gpt-4.1-nano': row('o200k_base', 32_768, 'max_tokens', { kind: 'patch', multiplier: 2.46 }),
  'gpt-4.5': row('o200k_base', 16_384),
  o1: row('o200k_base', 100_000, 'max_completion_tokens', O_SERIES_IMAGES),
  'o1-mini': row('o200k_base', 65_536, 'max_completion_tokens', O_SERIES_IMAGES),
  'o1-pro': row('o200k_base', 100_000, 'max_completion_tokens', O_SERIES_IMAGES),
  o3: row('o200k_base', 100_000, 'max_completion_tokens', O_SERIES_IMAGES),
  'o3-mini': row('o200k_base', 100_000, 'max_completion_tokens', O_SERIES_IMAGES),
  'o3-pro': row('o200k_base', 100_000, 'max_completion_tokens', O_SERIES_IMAGES),
  'o4-mini': row('o200k_base', 100_000, 'max_completion_tokens', { kind: 'patch', multiplier: 1.72 }),
  'gpt-5': row('o200k_base', 128_000, 'max_completion_tokens', { kind: 'tile', base: 70, perTile: 140 }),
};

const FAMILY_NAMES = Object.keys(FAMILIES).sort((a, b) => b.length - a.length);

/**
 * Resolves a model name to its family's facts, or `undefined` for a name no
 * family matches. Fine-tuned names (`ft:gpt-4o-mini:org::id`) resolve to their base.
 */
export function lookupModel(model: string): ModelInfo | undefined {
  const name = model.startsWith('ft:') ? model.slice(3).split(':')[0]! : model;
  for (const family of FAMILY_NAMES) {
    if (name === family || (name.startsWith(family) && '-.'.includes(name[family.length]!))) {
      return { family, ...FAMILIES[family]! };
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
  return { ...row(encoding, 0), family: model, maxOutputTokens: undefined };
}
