// tiktoken's pre-tokenizers for o200k_base and cl100k_base, hand-written: the pieces its Rust regex finds, with its Unicode tables.
import { CONTRACTION_FOLDS, LETTER, LOWER_LIKE, NUMBER, UPPER_LIKE, WHITE_SPACE } from './unicode-tables';
import type { EncodingName } from './models';

/**
 * Where the piece that starts at `start` ends (a UTF-16 index): what the encoding's
 * pattern matches there. Pieces found from 0, each starting where the last ended,
 * tile the text, as tiktoken's `find_iter` does.
 */
export type PieceScanner = (text: string, start: number) => number;

/** The pre-tokenizer of an encoding. */
export function pieceScanner(name: EncodingName): PieceScanner {
  return name === 'o200k_base' ? o200kPieceEnd : cl100kPieceEnd;
}

// Class bits of a code point.
const IS_LETTER = 1; // \p{L}
const IS_NUMBER = 2; // \p{N}
const IS_SPACE = 4; // \s: White_Space
const IS_UPPER_LIKE = 8; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
const IS_LOWER_LIKE = 16; // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
const IS_CR_LF = 32; // \r or \n

const BLOCK_BITS = 8;
const BLOCK_MASK = (1 << BLOCK_BITS) - 1;

/**
 * The class bits of every code point, as a two-stage table: a block index per 256
 * code points, and the distinct blocks (most of the 17 planes share a few).
 * Surrogates have no bits, like U+FFFD, which a lone surrogate becomes in UTF-8.
 */
const { blockOf, blocks } = buildClassTable();

function buildClassTable(): { blockOf: Uint16Array; blocks: Uint8Array } {
  const all = new Uint8Array(0x110000);
  const mark = (ranges: readonly number[], bit: number) => {
    for (let i = 0; i < ranges.length; i += 2) {
      for (let code = ranges[i]!; code <= ranges[i + 1]!; code++) all[code]! |= bit;
    }
  };
  mark(LETTER, IS_LETTER);
  mark(NUMBER, IS_NUMBER);
  mark(WHITE_SPACE, IS_SPACE);
  mark(UPPER_LIKE, IS_UPPER_LIKE);
  mark(LOWER_LIKE, IS_LOWER_LIKE);
  all[0x0d]! |= IS_CR_LF;
  all[0x0a]! |= IS_CR_LF;

  const blockOf = new Uint16Array(all.length >> BLOCK_BITS);
  const distinct = new Map<string, number>();
  const kept: Uint8Array[] = [];
  for (let block = 0; block < blockOf.length; block++) {
    const bits = all.subarray(block << BLOCK_BITS, (block + 1) << BLOCK_BITS);
    const key = Buffer.from(bits.buffer, bits.byteOffset, bits.length).toString('latin1');
    let index = distinct.get(key);
    if (index === undefined) {
      index = kept.length;
      distinct.set(key, index);
      kept.push(bits);
    }
    blockOf[block] = index;
  }
  const blocks = new Uint8Array(kept.length << BLOCK_BITS);
  kept.forEach((bits, index) => blocks.set(bits, index << BLOCK_BITS));
  return { blockOf, blocks };
}

/** A code point as a contraction reads it: an ASCII letter or ſ as its lowercase ASCII letter (other code points match no case). */
const foldedLetter = new Map<number, number>(CONTRACTION_FOLDS.map(([code, folded]) => [code, folded]));
const fold = (code: number) => (code < 0x80 ? code | 0x20 : (foldedLetter.get(code) ?? code));

const classOf = (code: number) => blocks[(blockOf[code >> BLOCK_BITS]! << BLOCK_BITS) | (code & BLOCK_MASK)]!;

/** The code point at `i`; a lone surrogate is returned as is (its class is U+FFFD's: none). */
function codePointAt(text: string, i: number): number {
  const unit = text.charCodeAt(i);
  if ((unit & 0xfc00) !== 0xd800 || i + 1 >= text.length) return unit;
  const low = text.charCodeAt(i + 1);
  return (low & 0xfc00) === 0xdc00 ? 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00) : unit;
}

const width = (code: number) => (code > 0xffff ? 2 : 1);

/** Class bits of the code point at `i`, 0 past the end. */
const classAt = (text: string, i: number) => (i < text.length ? classOf(codePointAt(text, i)) : 0);

/** `[^\r\n\p{L}\p{N}]`: what may stand before a word. */
const isWordPrefix = (bits: number) => (bits & (IS_LETTER | IS_NUMBER | IS_CR_LF)) === 0;
/** `[^\s\p{L}\p{N}]`: punctuation, symbols, marks, controls. */
const isOther = (bits: number) => (bits & (IS_LETTER | IS_NUMBER | IS_SPACE)) === 0;

/** Where a run of code points having `bit` that starts at `i` ends. */
function runEnd(text: string, i: number, bit: number): number {
  const length = text.length;
  while (i < length) {
    const code = codePointAt(text, i);
    if ((classOf(code) & bit) === 0) break;
    i += width(code);
  }
  return i;
}

/** `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `i`: where it ends, or -1. */
function contractionEnd(text: string, i: number): number {
  if (text.charCodeAt(i) !== 0x27 || i + 1 >= text.length) return -1;
  const first = codePointAt(text, i + 1);
  const after = i + 1 + width(first);
  switch (fold(first)) {
    case 0x73: // s
    case 0x74: // t
    case 0x6d: // m
    case 0x64: // d
      return after;
    case 0x72: // r
    case 0x76: // v
      return letterEnd(text, after, 0x65); // e
    case 0x6c: // l
      return letterEnd(text, after, 0x6c);
    default:
      return -1;
  }
}

/** Where a code point folding to `letter` at `i` ends, or -1. */
function letterEnd(text: string, i: number, letter: number): number {
  if (i >= text.length) return -1;
  const code = codePointAt(text, i);
  return fold(code) === letter ? i + width(code) : -1;
}

const withContraction = (text: string, end: number) => {
  const contraction = contractionEnd(text, end);
  return contraction < 0 ? end : contraction;
};

/**
 * `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:…)?` at `i`, or -1. The
 * greedy first run gives back code points until the second can match one: the match
 * ends after the last lower-like code point of the first run, unless one follows it.
 */
function casedWordEnd(text: string, i: number): number {
  const length = text.length;
  let afterLastLower = -1;
  while (i < length) {
    const code = codePointAt(text, i);
    const bits = classOf(code);
    if ((bits & IS_UPPER_LIKE) === 0) break;
    i += width(code);
    if (bits & IS_LOWER_LIKE) afterLastLower = i;
  }
  if (classAt(text, i) & IS_LOWER_LIKE) return withContraction(text, runEnd(text, i, IS_LOWER_LIKE));
  return afterLastLower < 0 ? -1 : withContraction(text, afterLastLower);
}

/** `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:…)?` at `i`, or -1. */
function upperWordEnd(text: string, i: number): number {
  if ((classAt(text, i) & IS_UPPER_LIKE) === 0) return -1;
  return withContraction(text, runEnd(text, runEnd(text, i, IS_UPPER_LIKE), IS_LOWER_LIKE));
}

/** `\p{N}{1,3}` at `i`, or -1. */
function numberEnd(text: string, i: number): number {
  let end = i;
  for (let digits = 0; digits < 3 && end < text.length; digits++) {
    const code = codePointAt(text, end);
    if ((classOf(code) & IS_NUMBER) === 0) break;
    end += width(code);
  }
  return end === i ? -1 : end;
}

/** ` ?[^\s\p{L}\p{N}]+` followed by `[\r\n]*` (cl100k) or `[\r\n/]*` (o200k) at `i`, or -1. */
function punctuationEnd(text: string, i: number, slashToo: boolean): number {
  const start = text.charCodeAt(i) === 0x20 && isOther(classAt(text, i + 1)) ? i + 1 : i;
  if (!isOther(classAt(text, start))) return -1;
  let end = start;
  while (end < text.length) {
    const code = codePointAt(text, end);
    if (!isOther(classOf(code))) break;
    end += width(code);
  }
  for (;;) {
    const unit = text.charCodeAt(end);
    if (unit !== 0x0d && unit !== 0x0a && !(slashToo && unit === 0x2f)) return end;
    end++;
  }
}

/**
 * `\s*[\r\n]+|\s+(?!\S)|\s+` at `i`, which is white space (all of it is in the BMP):
 * through the last line break of the run; else all of a run that ends the text, all
 * but its last code point otherwise; else (a single space before a non-space) that one.
 */
function spaceEnd(text: string, i: number): number {
  const length = text.length;
  let end = i;
  let afterLastBreak = -1;
  while (end < length) {
    const unit = text.charCodeAt(end);
    if ((classOf(unit) & IS_SPACE) === 0) break;
    end++;
    if (unit === 0x0a || unit === 0x0d) afterLastBreak = end;
  }
  if (afterLastBreak >= 0) return afterLastBreak;
  return end === length || end - i === 1 ? end : end - 1;
}

/**
 * o200k_base:
 * `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
 * `|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
 * `|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
 * — the first alternative that matches wins, each optional prefix tried taken first.
 */
function o200kPieceEnd(text: string, i: number): number {
  const code = codePointAt(text, i);
  const bits = classOf(code);
  const afterPrefix = isWordPrefix(bits) ? i + width(code) : -1;
  let end: number;
  if (afterPrefix >= 0 && (end = casedWordEnd(text, afterPrefix)) >= 0) return end;
  if ((end = casedWordEnd(text, i)) >= 0) return end;
  if (afterPrefix >= 0 && (end = upperWordEnd(text, afterPrefix)) >= 0) return end;
  if ((end = upperWordEnd(text, i)) >= 0) return end;
  if ((end = numberEnd(text, i)) >= 0) return end;
  if ((end = punctuationEnd(text, i, true)) >= 0) return end;
  return spaceEnd(text, i);
}

/**
 * cl100k_base:
 * `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
 */
function cl100kPieceEnd(text: string, i: number): number {
  let end = contractionEnd(text, i);
  if (end >= 0) return end;
  const code = codePointAt(text, i);
  const bits = classOf(code);
  if (isWordPrefix(bits) && classAt(text, i + width(code)) & IS_LETTER) return runEnd(text, i + width(code), IS_LETTER);
  if (bits & IS_LETTER) return runEnd(text, i, IS_LETTER);
  if ((end = numberEnd(text, i)) >= 0) return end;
  if ((end = punctuationEnd(text, i, false)) >= 0) return end;
  return spaceEnd(text, i);
}
