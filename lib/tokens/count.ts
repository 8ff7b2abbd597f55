// Counting the tokens of a text for a model by name.
import { getEncoder } from './encoder';
import { requireModel } from './models';

/** The tokens of `text` in the encoding of `model`, as the API counts them (special tokens count as text). */
export function countTokens(text: string, model: string): number {
  return getEncoder(requireModel(model).encoding).count(text);
}
