// tiktoken's encodings (the `tiktoken` package: OpenAI's Rust core in WASM), the oracle of the counting tests.

import { get_encoding, type Tiktoken } from 'tiktoken';
import type { EncodingName } from '../../lib/tokens/models';

/** The encoding `name`, made before the calling describe block's tests and freed after them (it lives in WASM memory). */
export function tiktokenFor(name: EncodingName): () => Tiktoken {
  let oracle: Tiktoken | undefined;
  beforeAll(() => {
    oracle = get_encoding(name);
  });
  afterAll(() => oracle?.free());
  return () => oracle!;
}
