// Our encoder against tiktoken (the Rust core, in WASM) token for token, the two merge paths against each other, and counting by model.
import type { TiktokenBPE } from 'js-tiktoken/lite';
import { get_encoding, type Tiktoken } from 'tiktoken';
import { TokenBudgetConfigError } from '../../lib/config-error';
import { RankTable, SCAN_MAX_BYTES, bytePairMerge, mergeByHeap, mergeByScan } from '../../lib/tokens/bpe';
import { countTokens } from '../../lib/tokens/count';
import { getEncoder, warmEncoders } from '../../lib/tokens/encoder';
import { runSliced } from '../../lib/tokens/slice';
import { requireModel, type EncodingName } from '../../lib/tokens/models';
import {
  EDGE_CASES,
  cjkRun,
  cjkWithEmoji,
  hostileString,
  randomLetters,
  readmeProse,
  seededRandom,
  typescriptLibCode,
} from './corpus';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadData = (name: EncodingName) => require(`js-tiktoken/ranks/${name}`) as TiktokenBPE;

const utf8 = (text: string) => new TextEncoder().encode(text);

describe.each<EncodingName>(['o200k_base', 'cl100k_base'])('%s', (name) => {
  const encoder = getEncoder(name);
  let reference: Tiktoken;
  let table: RankTable;

  beforeAll(() => {
    reference = get_encoding(name);
    table = RankTable.fromTiktoken(loadData(name).bpe_ranks);
  });
  afterAll(() => reference.free());

  /** Special tokens as ordinary text, the way user text must be counted. */
  const expected = (text: string) => Array.from(reference.encode_ordinary(text));

  /** Encode, count and countUpTo below, at and above the true count all agree with tiktoken. */
  function expectSameAsReference(text: string): void {
    const tokens = expected(text);
    expect(encoder.encode(text)).toEqual(tokens);
    expect(encoder.count(text)).toBe(tokens.length);
    expectCountUpTo(text, tokens.length);
  }

  function expectCountUpTo(text: string, count: number): void {
    for (const limit of [0, 1, count - 2, count - 1, count, count + 1, count + 7]) {
      if (limit < 0) continue;
      // The limit rides along so that a failure names it.
      expect([limit, encoder.countUpTo(text, limit)]).toEqual([limit, count <= limit ? count : limit + 1]);
    }
  }

  /** Tokens that spell the text, counted consistently: what can be checked where tiktoken is too slow. */
  function expectConsistent(text: string, tokens: number[]): void {
    expect(Buffer.from(reference.decode(Uint32Array.from(tokens))).equals(Buffer.from(utf8(text)))).toBe(true);
    expect(encoder.count(text)).toBe(tokens.length);
    expectCountUpTo(text, tokens.length);
  }

  test.each(Object.entries(EDGE_CASES))('edge case: %s', (_, text) => {
    expectSameAsReference(text);
  });

  test('real prose, real code, CJK with emoji', () => {
    expectSameAsReference(readmeProse(200_000));
    expectSameAsReference(typescriptLibCode(200_000));
    expectSameAsReference(cjkWithEmoji(20_000, 1));
  });

  test('3,000 seeded random strings from a hostile alphabet', () => {
    const random = seededRandom(name === 'o200k_base' ? 42 : 43);
    const mismatches: string[] = [];
    for (let i = 0; i < 3_000; i++) {
      const text = hostileString(random, i < 2_900 ? 30 : 200);
      const tokens = expected(text);
      const limit = Math.floor(random() * (tokens.length + 3));
      const upTo = encoder.countUpTo(text, limit);
      const encoded = encoder.encode(text);
      if (
        encoded.length !== tokens.length ||
        encoded.some((token, at) => token !== tokens[at]) ||
        encoder.count(text) !== tokens.length ||
        upTo !== (tokens.length <= limit ? tokens.length : limit + 1)
      ) {
        mismatches.push(JSON.stringify(text));
      }
    }
    expect(mismatches).toEqual([]);
  });

  test('long single pieces, compared with tiktoken where it finishes in seconds', () => {
    expectSameAsReference('a'.repeat(name === 'o200k_base' ? 8_000 : 4_000));
    expectSameAsReference(randomLetters(3_000, 7));
    expectSameAsReference(cjkRun(1_000, 8));
    expectSameAsReference(' '.repeat(3_000));
    expectSameAsReference(`x${' '.repeat(2_000)}1`);
    expectSameAsReference('ab'.repeat(1_500));
  });

  test("'a'.repeat(200000) is 25,000 tokens", () => {
    const text = 'a'.repeat(200_000);
    expect(encoder.count(text)).toBe(25_000);
    expectConsistent(text, encoder.encode(text));
  });

  test.each([
    ['200 KB random a–z', () => randomLetters(200_000, 11)],
    ['100,000 unpunctuated CJK characters', () => cjkRun(100_000, 12)],
    ['200 KB of spaces', () => ' '.repeat(200_000)],
  ])('%s: tokens spell the text, and the quadratic scan agrees on a 4,000-character prefix', (_, makeText) => {
    const text = makeText();
    expectConsistent(text, encoder.encode(text));
    const prefix = text.slice(0, 4_000);
    const bytes = utf8(prefix);
    const scanned: number[] = [];
    mergeByScan(table, bytes, bytes.length, scanned);
    expect(encoder.encode(prefix)).toEqual(scanned);
  });

  test('the scan and heap merges agree on 4,000 random byte strings, above the lower bound', () => {
    const random = seededRandom(99);
    const mismatches: string[] = [];
    for (let i = 0; i < 4_000; i++) {
      const text = i % 4 === 0 ? randomLetters(1 + Math.floor(random() * 400), i) : hostileString(random, 60);
      const bytes = utf8(text);
      const scanned: number[] = [];
      const heaped: number[] = [];
      const scanCount = mergeByScan(table, bytes, bytes.length, scanned);
      const heapCount = mergeByHeap(table, bytes, bytes.length, heaped);
      if (
        scanCount !== scanned.length ||
        heapCount !== scanned.length ||
        heaped.join() !== scanned.join() ||
        table.minTokens(bytes, bytes.length) > scanCount
      ) {
        mismatches.push(JSON.stringify(text));
      }
    }
    expect(mismatches).toEqual([]);
  });

  test('bytePairMerge takes the scan up to SCAN_MAX_BYTES and the heap above, with the same tokens', () => {
    for (const length of [SCAN_MAX_BYTES - 1, SCAN_MAX_BYTES, SCAN_MAX_BYTES + 1, 5 * SCAN_MAX_BYTES]) {
      const bytes = utf8(randomLetters(length, length));
      const viaDispatch: number[] = [];
      const viaScan: number[] = [];
      expect(bytePairMerge(table, bytes, length, viaDispatch)).toBe(mergeByScan(table, bytes, length, viaScan));
      expect(viaDispatch).toEqual(viaScan);
    }
  });

  test('countUpTo says "above" without merging a text or a piece too long to fit whatever it says', () => {
    const prose = readmeProse(300_000);
    expect(encoder.countUpTo(prose, 4_000)).toBe(4_001);
    expect(encoder.countUpTo(prose, 1e9)).toBe(encoder.count(prose));
    expect(encoder.countUpTo('a'.repeat(1_000_000), 10)).toBe(11);
    const letters = randomLetters(1_000_000, 13);
    expect(encoder.countUpTo(`hello ${letters}`, 10_000)).toBe(10_001);
    expect(encoder.countUpTo(cjkRun(300_000, 14), 10_000)).toBe(10_001);
    // An early exit leaves nothing behind for the next call.
    expect(encoder.encode('hello world')).toEqual(expected('hello world'));
  });
});

describe('counting in slices of the event loop', () => {
  const encoder = getEncoder('o200k_base');
  // A zero-length slice yields at every look at the clock: the most turns the work can take.
  const sliced = (text: string, limit: number) => runSliced((slice) => encoder.countUpToSteps(text, limit, slice), 0);

  test('gives the same count and verdicts as counting in one go, long pieces included', async () => {
    const texts = [
      readmeProse(100_000),
      `${randomLetters(20_000, 31)} tail ${' \t'.repeat(5_000)}x${cjkRun(3_000, 32)}`,
      '-*='.repeat(4_000),
      'a'.repeat(50_000),
    ];
    for (const text of texts) {
      const count = encoder.count(text);
      for (const limit of [0, 100, count - 1, count, Infinity]) {
        expect([limit, await sliced(text, limit)]).toEqual([limit, encoder.countUpTo(text, limit)]);
      }
    }
  });

  test('yields the event loop on a long count, and two counts in flight do not mix their pieces', async () => {
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      // Pieces of 10,000 letters: long enough to merge in slices, short enough for the shared scratch.
      const pieces = (seed: number) => Array.from({ length: 12 }, (_, i) => randomLetters(10_000, seed + i)).join(' ');
      const [first, second, third] = await Promise.all([
        sliced(pieces(100), Infinity),
        sliced(pieces(200), Infinity),
        sliced(cjkRun(60_000, 34), Infinity),
      ]);
      expect(first).toBe(encoder.count(pieces(100)));
      expect(second).toBe(encoder.count(pieces(200)));
      expect(third).toBe(encoder.count(cjkRun(60_000, 34)));
      expect(turns).toBeGreaterThan(5);
    } finally {
      clearInterval(ticker);
    }
  });
});

describe('encoders', () => {
  test('are built once per process and can be warmed ahead of use', () => {
    warmEncoders(['cl100k_base']);
    warmEncoders();
    expect(getEncoder('o200k_base')).toBe(getEncoder('o200k_base'));
    expect(getEncoder('cl100k_base').name).toBe('cl100k_base');
  });
});

describe('countTokens and requireModel', () => {
  test('resolve the encoding from the model family', () => {
    expect(requireModel('gpt-4o-2024-08-06').encoding).toBe('o200k_base');
    expect(requireModel('gpt-5.1').encoding).toBe('o200k_base');
    expect(requireModel('gpt-3.5-turbo').encoding).toBe('cl100k_base');
    expect(countTokens('hello world', 'gpt-4o')).toBe(2);
    expect(countTokens('<|endoftext|>', 'gpt-4')).toBe(getEncoder('cl100k_base').count('<|endoftext|>'));
    expect(countTokens('<|endoftext|>', 'gpt-4')).toBeGreaterThan(1);
  });

  test('refuse an unknown model without a fallback, with a stable code', () => {
    expect(() => countTokens('hello', 'llama-3')).toThrow(TokenBudgetConfigError);
    expect(() => requireModel('llama-3')).toThrow(expect.objectContaining({ code: 'TB_UNKNOWN_MODEL' }));
    expect(() => requireModel('llama-3')).toThrow(/"llama-3" is not a known OpenAI model/);
  });
});
