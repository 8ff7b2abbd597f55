// TEMPORARY stub (js-tiktoken, quadratic): the bounded-time encoder replaces this file.
import { Tiktoken } from 'js-tiktoken/lite';
import type { EncodingName } from './models';

export interface Encoder {
  readonly name: EncodingName;
  encode(text: string): number[];
  count(text: string): number;
  /** The exact count when it is at most `limit`, otherwise some number above `limit`. */
  countUpTo(text: string, limit: number): number;
}

const encoders = new Map<EncodingName, Encoder>();

export function getEncoder(name: EncodingName): Encoder {
  let encoder = encoders.get(name);
  if (!encoder) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tiktoken = new Tiktoken(require(`js-tiktoken/ranks/${name}`));
    const encode = (text: string) => tiktoken.encode(text, [], []);
    encoder = { name, encode, count: (t) => encode(t).length, countUpTo: (t) => encode(t).length };
    encoders.set(name, encoder);
  }
  return encoder;
}
