// Long pieces against tiktoken: CJK, emoji sequences, mixed scripts and runs without spaces, counted fresh and again from the long-piece cache.
import { getEncoder } from '../../lib/tokens/encoder';
import type { EncodingName } from '../../lib/tokens/models';
import { seededRandom } from './corpus';
import { tiktokenFor } from './tiktoken';

const TEXTS = 2_500;

const ZWJ = '\u200d';
const VS16 = '\ufe0f';
const SKIN_TONES = ['\u{1f3fb}', '\u{1f3fc}', '\u{1f3fd}', '\u{1f3fe}', '\u{1f3ff}'];
const PEOPLE = ['👩', '👨', '🧑', '👧', '👦', '👋', '👍', '🏃', '🙋', '🤝'];
const OTHER_EMOJI = ['❤', '✨', '🚀', '😀', '🔥', '🏳', '🌈', '⚧', '💻', '🎉'];
const CJK_WORDS = ['東京', '日本語', '中文', '天気', 'です', 'ました', '学生', '人工知能', '모델', '사랑', '𠀋𡈽', '繁體中文'];
const OTHER_SCRIPTS = ['hello', 'World', 'русский', 'العربية', 'ภาษาไทย', 'देवनागरी', 'Ελληνικά', 'עברית', 'é', 'ß', '½', '123'];
const PUNCTUATION = ['。', '、', '！', '「', '」', '…', '.', ',', ' ', '\n'];

/** Code points from `from` to `to`, as a function of a random number. */
const inRange = (from: number, to: number) => (random: () => number) =>
  String.fromCodePoint(from + Math.floor(random() * (to - from + 1)));
const HAN = inRange(0x4e00, 0x9fff);
const HAN_EXTENSION_A = inRange(0x3400, 0x4dbf);
const HAN_EXTENSION_B = inRange(0x20000, 0x2a6df);
const KANA = inRange(0x3041, 0x30fa);
const HANGUL = inRange(0xac00, 0xd7a3);
const REGIONAL_INDICATOR = inRange(0x1f1e6, 0x1f1ff);

/** Texts of mostly long pieces: CJK without punctuation, emoji with skin tones and joiners, flags, scripts side by side, runs. */
function longPieceTexts(seed: number): () => string {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const person = () => pick(PEOPLE) + (random() < 0.6 ? pick(SKIN_TONES) : '');
  const emoji = (): string => {
    const roll = random();
    if (roll < 0.3) return person();
    if (roll < 0.55) {
      const joined = Array.from({ length: 2 + Math.floor(random() * 3) }, () => (random() < 0.7 ? person() : pick(OTHER_EMOJI)));
      return joined.join(ZWJ) + (random() < 0.3 ? VS16 : '');
    }
    if (roll < 0.7) return REGIONAL_INDICATOR(random) + REGIONAL_INDICATOR(random);
    if (roll < 0.8) return pick(OTHER_EMOJI) + VS16;
    if (roll < 0.9) return `${Math.floor(random() * 10)}${VS16}\u20e3`;
    return '🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}';
  };
  const part = (): string => {
    const roll = random();
    if (roll < 0.25) return pick(CJK_WORDS);
    if (roll < 0.4) return pick([HAN, HAN, HAN_EXTENSION_A, HAN_EXTENSION_B, KANA, HANGUL])(random);
    if (roll < 0.65) return emoji();
    if (roll < 0.77) return pick(OTHER_SCRIPTS);
    if (roll < 0.87) return pick(PUNCTUATION);
    // A run without spaces around the long-piece cache's bound of 256 bytes (85 ideographs are 255).
    if (roll < 0.95) return Array.from({ length: 80 + Math.floor(random() * 10) }, () => HAN(random)).join('');
    return (random() < 0.5 ? emoji() : pick(CJK_WORDS)).repeat(1 + Math.floor(random() * 40));
  };
  return () => Array.from({ length: 1 + Math.floor(random() * 30) }, part).join('');
}

describe.each<EncodingName>(['o200k_base', 'cl100k_base'])('%s against tiktoken on long pieces', (name) => {
  const encoder = getEncoder(name);
  const oracle = tiktokenFor(name);

  test(`${TEXTS.toLocaleString('en')} texts of CJK, emoji and mixed scripts: the same tokens, and the same count fresh, again, and after the cache has turned over`, () => {
    const next = longPieceTexts(name === 'o200k_base' ? 31 : 32);
    const texts = Array.from({ length: TEXTS }, next);
    const expected = texts.map((text) => oracle().encode_ordinary(text).length);
    const mismatches: string[] = [];
    const check = (text: string, i: number, counted: number[]) => {
      if (counted.some((count) => count !== expected[i]) && mismatches.length < 10)
        mismatches.push(`${JSON.stringify(text.slice(0, 120))}: ${expected[i]} vs ${counted.join(', ')}`);
    };
    texts.forEach((text, i) => {
      const tokens = Array.from(oracle().encode_ordinary(text));
      const encoded = encoder.encode(text);
      if (encoded.length !== tokens.length || encoded.some((token, at) => token !== tokens[at]))
        mismatches.push(`encode: ${text}`);
      const count = expected[i]!;
      const atLimit = encoder.countUpTo(text, count);
      const belowLimit = count > 0 ? encoder.countUpTo(text, count - 1) : count;
      check(text, i, [encoder.count(text), encoder.count(text), atLimit, belowLimit]);
    });
    // The texts hold more than the ring's 512 KB of long pieces: earlier ones have been written over or evicted.
    expect(texts.reduce((bytes, text) => bytes + Buffer.byteLength(text), 0)).toBeGreaterThan(1 << 20);
    texts.forEach((text, i) => check(text, i, [encoder.count(text), encoder.countUpTo(text, expected[i]!)]));
    expect(mismatches).toEqual([]);
  });

  test('a long piece remembered by a count is exact under any limit (countUpTo below, at and above)', () => {
    const run = '東京の天気は晴れです人工知能の学生が電車で日本語を学びました'.repeat(2);
    const tokens = oracle().encode_ordinary(run).length;
    expect(encoder.count(run)).toBe(tokens);
    for (const limit of [0, 1, tokens - 1, tokens, tokens + 1])
      expect([limit, encoder.countUpTo(run, limit)]).toEqual([limit, tokens <= limit ? tokens : limit + 1]);
    expect(encoder.count(run + run)).toBe(oracle().encode_ordinary(run + run).length);
  });
});
