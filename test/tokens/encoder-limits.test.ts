// The encoder at its edges: verdicts exactly at a limit, long pieces over 64 KB in slices, what is counted at once, rare UTF-16.
import { getEncoder } from '../../lib/tokens/encoder';
import type { EncodingName } from '../../lib/tokens/models';
import { runSliced, runWhole, WHOLE, type Slice } from '../../lib/tokens/slice';
import { cjkRun, EDGE_CASES, randomLetters } from './corpus';
import { tiktokenFor } from './tiktoken';

const NEVER_DUE: Slice = { due: () => false };
const ALWAYS_DUE: Slice = { due: () => true };

describe.each<EncodingName>(['o200k_base', 'cl100k_base'])('%s', (name) => {
  const encoder = getEncoder(name);
  const oracle = tiktokenFor(name);

  const expected = (text: string) => Array.from(oracle().encode_ordinary(text));

  test.each([
    // Pieces of 13 to 15 bytes that share their first 12: one is a single token, the other is not.
    ['long pieces alike in their first 12 bytes', ' international internationaz\n international\ninternationaz'],
    ['a lone low surrogate before another', 'x\udc00\udc00 \udc00\udc01y'],
    ['a lone high surrogate before U+E000', '\ud800\ue000 a\ud83d\ue000'],
    ['U+0080', 'a\u0080b \u0080'],
  ])('%s: the same tokens and count as tiktoken', (_, text) => {
    expect(encoder.encode(text)).toEqual(expected(text));
    expect(encoder.count(text)).toBe(expected(text).length);
    expect(encoder.count(text)).toBe(expected(text).length);
  });

  test('countUpTo answers exactly limit + 1 under the count, at every limit', () => {
    for (const text of [EDGE_CASES.prose!, EDGE_CASES.cjk!, EDGE_CASES.code!]) {
      const count = encoder.count(text);
      const verdicts = Array.from({ length: count + 2 }, (_, limit) => encoder.countUpTo(text, limit));
      expect(verdicts).toEqual(Array.from({ length: count + 2 }, (_, limit) => Math.min(count, limit + 1)));
    }
  });

  test('countUpTo admits a single piece at exactly its count', () => {
    for (const text of [
      'a'.repeat(16),
      'a'.repeat(100),
      ' '.repeat(50),
      randomLetters(300, 51),
      cjkRun(200, 52),
      '1'.repeat(30),
    ]) {
      const count = encoder.count(text);
      expect([text.slice(0, 10), encoder.countUpTo(text, count), encoder.countUpTo(text, count - 1)]).toEqual([
        text.slice(0, 10),
        count,
        count,
      ]);
    }
  });
});

describe('pieces over 64 KB counted in slices (o200k_base)', () => {
  const encoder = getEncoder('o200k_base');
  const sliced = (text: string, limit: number) => runSliced((slice) => encoder.countUpToSteps(text, limit, slice), 0);

  test.each([
    ['U+3000 × 30,000 (a chunk opens inside a character)', () => '\u3000'.repeat(30_000)],
    ['a × 70,000', () => 'a'.repeat(70_000)],
    ['70,000 random letters', () => randomLetters(70_000, 53)],
    ['25,000 CJK characters', () => cjkRun(25_000, 54)],
  ])('%s: admitted at exactly its count, refused one under it', async (_, makeText) => {
    const text = makeText();
    const exact = encoder.count(text);
    expect(await sliced(text, exact)).toBe(exact);
    expect(await sliced(text, exact - 1)).toBe(exact);
    expect(await sliced(text, Math.floor(exact / 2))).toBe(Math.floor(exact / 2) + 1);
  });
});

describe('startCount', () => {
  const encoder = getEncoder('o200k_base');
  const finished = (started: ReturnType<typeof encoder.startCount>) =>
    typeof started === 'number' ? started : runWhole(encoder.finishCount(started));

  test('counts at once a text with no piece over 4,096 bytes, whatever the slice', () => {
    const prose = EDGE_CASES.prose!.repeat(100);
    for (const [text, slice] of [
      ['hello world', ALWAYS_DUE],
      ['hello world', NEVER_DUE],
      [prose, NEVER_DUE],
      ['a'.repeat(4_096), NEVER_DUE],
      ['a'.repeat(5_000), WHOLE],
    ] as const) {
      expect([text.length, typeof encoder.startCount(text, Infinity, slice)]).toEqual([text.length, 'number']);
    }
    expect(encoder.startCount('a'.repeat(5_000), Infinity, WHOLE)).toBe(encoder.count('a'.repeat(5_000)));
  });

  test('leaves a piece over 4,096 bytes under way in a slice that is not WHOLE, and finishes it exactly', () => {
    const text = `start ${'a'.repeat(4_097)}`;
    const started = encoder.startCount(text, Infinity, NEVER_DUE);
    expect(typeof started).toBe('object');
    expect(finished(started)).toBe(encoder.count(text));
  });

  test('is the same encoder every time it is asked for', () => {
    expect(getEncoder('o200k_base')).toBe(encoder);
    expect(getEncoder('cl100k_base')).toBe(getEncoder('cl100k_base'));
    expect(getEncoder('cl100k_base')).not.toBe(encoder);
  });
});
