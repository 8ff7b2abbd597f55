// The tiktoken encodings with bounded time on any input: js-tiktoken's rank data, tiktoken's own pre-tokenizer, our rank table and merge.
import { NO_RANK, RankTable, bytePairMerge } from './bpe';
import type { EncodingName } from './models';
import { pieceScanner, type PieceScanner } from './pretokenize';

export interface Encoder {
  readonly name: EncodingName;
  encode(text: string): number[];
  count(text: string): number;
  /** The exact count when it is at most `limit`, otherwise `limit + 1`, found without counting the rest. */
  countUpTo(text: string, limit: number): number;
}

/** The shape of `js-tiktoken/ranks/*`; its `pat_str` is not used (see `pretokenize.ts`). */
interface TiktokenRanks {
  bpe_ranks: string;
}

const encoders = new Map<EncodingName, Encoder>();

/** The encoder of `name`, built on first use and kept for the life of the process. */
export function getEncoder(name: EncodingName): Encoder {
  let encoder = encoders.get(name);
  if (!encoder) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    encoder = new BpeEncoder(name, require(`js-tiktoken/ranks/${name}`) as TiktokenRanks);
    encoders.set(name, encoder);
  }
  return encoder;
}

/** Builds encoders now (both by default), so a server pays the load before its first request. */
export function warmEncoders(names: EncodingName[] = ['o200k_base', 'cl100k_base']): void {
  for (const name of names) getEncoder(name).count('Warm up: 1 2 3.');
}

// A piece's UTF-8 bytes go here; pieces longer than this get a buffer of their own,
// so one hostile input does not pin megabytes for the life of the process.
const SCRATCH_BYTES = 1 << 16;
const scratch = new Uint8Array(SCRATCH_BYTES);

class BpeEncoder implements Encoder {
  private readonly ranks: RankTable;
  // Special tokens are never looked for: in user text `<|endoftext|>` is ordinary
  // text, as tiktoken's `encode_ordinary` treats it.
  private readonly pieceEnd: PieceScanner;

  constructor(
    readonly name: EncodingName,
    data: TiktokenRanks,
  ) {
    this.ranks = RankTable.fromTiktoken(data.bpe_ranks);
    this.pieceEnd = pieceScanner(name);
  }

  encode(text: string): number[] {
    const tokens: number[] = [];
    this.walk(text, Infinity, tokens);
    return tokens;
  }

  count(text: string): number {
    return this.walk(text, Infinity, null);
  }

  countUpTo(text: string, limit: number): number {
    // No token is longer than maxTokenBytes and a UTF-16 unit is at least one
    // UTF-8 byte, so a text this long has more than `limit` tokens whatever it says.
    if (text.length > limit * this.ranks.maxTokenBytes) return limit + 1;
    return this.walk(text, limit, null);
  }

  /**
   * Counts the tokens of `text` piece by piece, appending them to `out` when given;
   * stops with a count above `limit` as soon as one is reached. BPE never merges
   * across pieces, so the count of a prefix of pieces is exact.
   */
  private walk(text: string, limit: number, out: number[] | null): number {
    const { ranks, pieceEnd } = this;
    let count = 0;
    for (let start = 0; count <= limit && start < text.length; ) {
      const end = pieceEnd(text, start);
      const bytes = end - start <= SCRATCH_BYTES / 3 ? scratch : new Uint8Array(3 * (end - start));
      const length = encodeUtf8(text, start, end, bytes);
      const whole = ranks.rank(bytes, 0, length);
      if (whole !== NO_RANK) {
        count++;
        out?.push(whole);
      } else if (length > limit - count && ranks.minTokens(bytes, length) > limit - count) {
        // A long piece is merged whole or not at all: refuse it on a cheap lower bound.
        return limit + 1;
      } else {
        count += bytePairMerge(ranks, bytes, length, out);
      }
      start = end;
    }
    return count > limit ? limit + 1 : count;
  }
}

/**
 * UTF-8 of `text[start, end)` into `out`, as TextEncoder writes it (a lone
 * surrogate becomes U+FFFD); returns the byte length.
 */
function encodeUtf8(text: string, start: number, end: number, out: Uint8Array): number {
  let length = 0;
  for (let i = start; i < end; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      out[length++] = code;
      continue;
    }
    if (code < 0x800) {
      out[length++] = 0xc0 | (code >> 6);
      out[length++] = 0x80 | (code & 0x3f);
      continue;
    }
    if (code >= 0xd800 && code < 0xe000) {
      const low = i + 1 < end ? text.charCodeAt(i + 1) : 0;
      if (code < 0xdc00 && low >= 0xdc00 && low < 0xe000) {
        const point = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        out[length++] = 0xf0 | (point >> 18);
        out[length++] = 0x80 | ((point >> 12) & 0x3f);
        out[length++] = 0x80 | ((point >> 6) & 0x3f);
        out[length++] = 0x80 | (point & 0x3f);
        i++;
        continue;
      }
      code = 0xfffd;
    }
    out[length++] = 0xe0 | (code >> 12);
    out[length++] = 0x80 | ((code >> 6) & 0x3f);
    out[length++] = 0x80 | (code & 0x3f);
  }
  return length;
}
