// Our encoders against tiktoken's Rust core (the `tiktoken` package, in WASM): the same tokens on a generated corpus, every early-exit verdict right.
import { get_encoding } from 'tiktoken';
import { getEncoder } from '../../lib/tokens/encoder';
import { runSliced } from '../../lib/tokens/slice';
import type { EncodingName } from '../../lib/tokens/models';
import { LETTER, LOWER_LIKE, NUMBER, UPPER_LIKE, WHITE_SPACE } from '../../lib/tokens/unicode-tables';
import { oracleStrings, seededRandom, tableEdges } from './corpus';
import { tiktokenFor } from './tiktoken';

/** Strings per encoding. */
const CORPUS_SIZE = 100_000;

const EDGES = tableEdges([LETTER, NUMBER, WHITE_SPACE, UPPER_LIKE, LOWER_LIKE]);

describe.each<EncodingName>(['o200k_base', 'cl100k_base'])('%s against tiktoken', (name) => {
  const encoder = getEncoder(name);
  const oracle = tiktokenFor(name);

  const expected = (text: string) => Array.from(oracle().encode_ordinary(text));

  test('white space is Unicode White_Space, not JavaScript \\s (U+FEFF is not, U+0085 is)', () => {
    expect(encoder.count(' \t\ufeff'.repeat(1000))).toBe(3000);
    expect(encoder.encode(' \t\ufeff'.repeat(1000))).toEqual(expected(' \t\ufeff'.repeat(1000)));
    expect(encoder.encode('a\u0085 \u0085b')).toEqual(expected('a\u0085 \u0085b'));
  });

  test('a case-insensitive contraction matches ſ as s: " I\'ſ"', () => {
    if (name === 'o200k_base') expect(encoder.count(" I'\u017f")).toBe(2);
    for (const text of [" I'\u017f", "it'\u017f it'\u017fT '\u017f'\u017f", "'\u212a 'K"])
      expect(encoder.encode(text)).toEqual(expected(text));
  });

  test("letters are those of Unicode 16 (tiktoken's), not of Node's ICU", () => {
    for (const code of [0x10d50, 0x16100, 0x10940, 0x16ea0, 0x323b0]) {
      const text = `${String.fromCodePoint(code)}'ll`;
      expect([code, encoder.encode(text)]).toEqual([code, expected(text)]);
    }
  });

  test(`${CORPUS_SIZE.toLocaleString('en')} generated strings: the same tokens, and countUpTo right at, below and above the count`, () => {
    const next = oracleStrings(name === 'o200k_base' ? 2024 : 2025, EDGES);
    const random = seededRandom(7);
    const mismatches: string[] = [];
    let verdicts = 0;
    for (let i = 0; i < CORPUS_SIZE && mismatches.length < 10; i++) {
      const text = next();
      const tokens = expected(text);
      const ours = encoder.encode(text);
      let same =
        ours.length === tokens.length && ours.every((token, at) => token === tokens[at]) && encoder.count(text) === tokens.length;
      for (const limit of [tokens.length - 1, tokens.length, Math.floor(random() * (tokens.length + 2))]) {
        if (limit < 0) continue;
        verdicts++;
        same &&= encoder.countUpTo(text, limit) === (tokens.length <= limit ? tokens.length : limit + 1);
      }
      if (!same) mismatches.push(JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…` : text));
    }
    expect(mismatches).toEqual([]);
    expect(verdicts).toBeGreaterThan(2 * CORPUS_SIZE);
  });
});

test('a piece over 64 KB counted in slices is admitted at exactly its count (a chunk may open inside a token)', async () => {
  // 90,000 bytes of U+3000: the 64 KB chunk edge falls inside a character, so the second chunk opens with 0x80 0x80.
  const text = '\u3000'.repeat(30_000);
  const oracle = get_encoding('o200k_base');
  const exact = oracle.encode_ordinary(text).length;
  oracle.free();
  const counted = await runSliced((slice) => getEncoder('o200k_base').countUpToSteps(text, exact, slice));
  expect(counted).toBe(exact);
});
