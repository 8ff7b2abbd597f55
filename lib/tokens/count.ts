// Counting the tokens of a text for a model by name.
import { TokenBudgetConfigError } from '../config-error';
import { getEncoder } from './encoder';
import { lookupModel, type EncodingName } from './models';

/**
 * The encoding `model` uses; `fallback` for a model no family matches, or a
 * `TokenBudgetConfigError` (TB_UNKNOWN_MODEL) when there is no fallback.
 */
export function encodingForModel(model: string, fallback?: EncodingName): EncodingName {
  const encoding = lookupModel(model)?.encoding ?? fallback;
  if (encoding === undefined) {
    throw new TokenBudgetConfigError(
      'TB_UNKNOWN_MODEL',
      `"${model}" is not a known OpenAI model, so its token encoding is unknown; use a known model name or give a fallback encoding ('o200k_base' or 'cl100k_base').`,
    );
  }
  return encoding;
}

/** The tokens of `text` in the encoding of `model`, as the API counts them (special tokens count as text). */
export function countTokens(text: string, model: string): number {
  return getEncoder(encodingForModel(model)).count(text);
}
