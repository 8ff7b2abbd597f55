// The tiktoken encodings with bounded time on any input: js-tiktoken's rank data, tiktoken's own pre-tokenizer, our rank table and merge.
import { NO_RANK, RankTable, bytePairMerge, mergeInSteps } from './bpe';
import type { EncodingName } from './models';
import { isLongCached, LongPieceCache } from './long-piece-cache';
import { CACHED_PIECE_BYTES, countOf, PieceCache, rankOf } from './piece-cache';
import { pieceScanner, type PieceScanner } from './pretokenize';
import { runWhole, WHOLE, type Slice, type Steps } from './slice';

export interface Encoder {
  readonly name: EncodingName;
  encode(text: string): number[];
  count(text: string): number;
  /** The exact count when it is at most `limit`, otherwise `limit + 1`, found without counting the rest. */
  countUpTo(text: string, limit: number): number;
  /** `countUpTo` as work that yields whenever `slice` is due (run it with `runSliced`). */
  countUpToSteps(text: string, limit: number, slice: Slice): Steps<number>;
  /**
   * `countUpToSteps` begun at once, without its generators: the count when the text is
   * counted in one go (it fits a slice and holds no piece merged in steps: most texts do),
   * else the count under way, for `finishCount` to go on with.
   */
  startCount(text: string, limit: number, slice: Slice): number | CountUnderWay;
  /** Goes on with a count `startCount` left under way. */
  finishCount(counting: CountUnderWay): Steps<number>;
}

/** A count `startCount` could not finish in one go. */
export type CountUnderWay = Walk;

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
  private readonly cache = new PieceCache();
  private readonly longCache = new LongPieceCache();

  constructor(
    readonly name: EncodingName,
    data: TiktokenRanks,
  ) {
    this.ranks = RankTable.fromTiktoken(data.bpe_ranks);
    this.pieceEnd = pieceScanner(name);
  }

  encode(text: string): number[] {
    const tokens: number[] = [];
    runWhole(this.walk(text, Infinity, tokens, WHOLE));
    return tokens;
  }

  count(text: string): number {
    return runWhole(this.walk(text, Infinity, null, WHOLE));
  }

  countUpTo(text: string, limit: number): number {
    return runWhole(this.countUpToSteps(text, limit, WHOLE));
  }

  *countUpToSteps(text: string, limit: number, slice: Slice): Steps<number> {
    const started = this.startCount(text, limit, slice);
    return typeof started === 'number' ? started : yield* this.finishCount(started);
  }

  startCount(text: string, limit: number, slice: Slice): number | CountUnderWay {
    // No token is longer than maxTokenBytes and a UTF-16 unit is at least one
    // UTF-8 byte, so a text this long has more than `limit` tokens whatever it says.
    if (text.length > limit * this.ranks.maxTokenBytes) return limit + 1;
    const walk = sharedWalk;
    walk.text = text;
    walk.limit = limit;
    walk.slice = slice;
    walk.start = 0;
    walk.count = 0;
    const underWay = this.walkSome(walk) === Stop.Done ? undefined : { ...walk };
    const count = countOfWalk(walk);
    // The shared walk lets go of the text, the slice and a long piece: the next count sets its own.
    walk.text = '';
    walk.slice = WHOLE;
    walk.longPiece = NO_BYTES;
    return underWay ?? count;
  }

  *finishCount(counting: CountUnderWay): Steps<number> {
    return yield* this.walkOn(counting, counting.longPiece === NO_BYTES ? Stop.Due : Stop.LongPiece);
  }

  /**
   * Counts the tokens of `text` piece by piece, appending them to `out` when given;
   * stops with a count above `limit` as soon as one is reached. BPE never merges
   * across pieces, so the count of a prefix of pieces is exact. Yields between
   * pieces, and inside the merge of a long one, whenever `slice` is due.
   */
  private walk(text: string, limit: number, out: number[] | null, slice: Slice): Steps<number> {
    const walk = newWalk(text, limit, out, slice);
    return this.walkOn(walk, this.walkSome(walk));
  }

  /** Goes on with `walk`, which stopped as `stop` says, to its end. */
  private *walkOn(walk: Walk, stop: Stop): Steps<number> {
    while (stop !== Stop.Done) {
      if (stop === Stop.Due) {
        yield;
      } else {
        walk.count += yield* this.longPiece(walk.longPiece, walk.longLength, walk.limit - walk.count, walk.out, walk.slice);
        walk.longPiece = NO_BYTES;
      }
      stop = this.walkSome(walk);
    }
    return countOfWalk(walk);
  }

  /**
   * The walk's hot loop, a plain function (a generator's loop runs slower): goes on
   * until the text or the limit ends, `slice` is due, or a long piece is to be merged
   * in slices, and says which.
   */
  private walkSome(walk: Walk): Stop {
    const { ranks, pieceEnd, cache, longCache } = this;
    const { text, limit, out, slice } = walk;
    let { start, count } = walk;
    let work = 0;
    let stop = Stop.Done;
    while (count <= limit && start < text.length) {
      const end = pieceEnd(text, start);
      const ownBytes = end - start > SCRATCH_BYTES / 3;
      const bytes = ownBytes ? new Uint8Array(3 * (end - start)) : scratch;
      const length = encodeUtf8(text, start, end, bytes);
      start = end;
      const short = length <= CACHED_PIECE_BYTES;
      const cached = short ? cache.find(bytes, length) : 0;
      // A long piece's count is looked up before its rank: a hit spares a probe of the rank table.
      const long = out === null && isLongCached(length);
      const remembered = long ? longCache.find(bytes, length) : 0;
      const whole = remembered !== 0 ? NO_RANK : cached !== 0 ? rankOf(cached) : ranks.rank(bytes, 0, length);
      if (remembered !== 0) {
        count += remembered;
        work += length + WORK_PER_PIECE;
      } else if (whole >= 0 && whole !== NO_RANK) {
        count++;
        out?.push(whole);
        if (short && cached === 0) cache.remember(length, whole, 1);
        else if (long) longCache.remember(bytes, length, 1);
        work += length + WORK_PER_PIECE;
      } else if (cached !== 0 && out === null) {
        count += countOf(cached);
        work += length + WORK_PER_PIECE;
      } else if (length > LONG_PIECE_BYTES && slice !== WHOLE) {
        // The shared scratch may serve other counts while this one waits for its turn.
        walk.longPiece = ownBytes ? bytes : bytes.slice(0, length);
        walk.longLength = length;
        stop = Stop.LongPiece;
        break;
      } else if (length > limit - count && ranks.minTokens(bytes, length) > limit - count) {
        // A long piece is merged whole or not at all: refuse it on a cheap lower bound.
        count = limit + 1;
        break;
      } else {
        const tokens = bytePairMerge(ranks, bytes, length, out);
        if (short) cache.remember(length, -1, tokens);
        else if (long) longCache.remember(bytes, length, tokens);
        count += tokens;
        work += length * WORK_PER_MERGED_BYTE;
      }
      if (work > WORK_PER_CHECK) {
        work = 0;
        if (slice.due()) {
          stop = Stop.Due;
          break;
        }
      }
    }
    walk.start = start;
    walk.count = count;
    return stop;
  }

  /**
   * The tokens of one long piece, in slices; above `left` tokens, some number above
   * it. The lower bound is taken chunk by chunk: a tiling of the piece cut at a chunk
   * boundary gains at most one tile there, so the chunks' bounds, less one per cut,
   * are a bound of the piece (and those of its first chunks, of the piece too). A
   * chunk after a cut may open with the tail of a token, which can be longer than any
   * token starting with its first byte (a cut inside U+3000 leaves 0x80 0x80 …).
   */
  private *longPiece(bytes: Uint8Array, length: number, left: number, out: number[] | null, slice: Slice): Steps<number> {
    if (length > left) {
      let bound = 1;
      for (let from = 0; from < length; from += BOUND_CHUNK_BYTES) {
        if (slice.due()) yield;
        const tokenTail = from === 0 ? 0 : this.ranks.maxTokenBytes - 1;
        bound += this.ranks.minTokens(bytes.subarray(from), Math.min(BOUND_CHUNK_BYTES, length - from), tokenTail) - 1;
        if (bound > left) return left + 1;
      }
    }
    return yield* mergeInSteps(this.ranks, bytes, length, out, slice);
  }
}

/** A walk through a text, between two calls of `walkSome`. */
interface Walk {
  readonly text: string;
  readonly limit: number;
  readonly out: number[] | null;
  readonly slice: Slice;
  start: number;
  count: number;
  /** A long piece `walkSome` stopped at, to be merged in slices. */
  longPiece: Uint8Array;
  longLength: number;
}

function newWalk(text: string, limit: number, out: number[] | null, slice: Slice): Walk {
  return { text, limit, out, slice, start: 0, count: 0, longPiece: NO_BYTES, longLength: 0 };
}

/** A finished walk's count: above its limit, one more than the limit. */
const countOfWalk = (walk: Walk) => (walk.count > walk.limit ? walk.limit + 1 : walk.count);

/** Why `walkSome` returned. */
const enum Stop {
  Done,
  Due,
  LongPiece,
}

const NO_BYTES = new Uint8Array(0);

/**
 * The walk of every count `startCount` does in one go, one after the other: a walk made per
 * text counted was garbage made per message per request. A count that must go on gets a copy.
 */
const sharedWalk: { -readonly [K in keyof Walk]: Walk[K] } = newWalk('', 0, null, WHOLE);

// Work between two looks at the clock, in units of about a nanosecond: a few hundred
// pieces of prose, or a few hundred bytes merged. A piece merges in one go up to
// LONG_PIECE_BYTES (a few ms at most); a longer one yields inside its merge.
const WORK_PER_PIECE = 32;
const WORK_PER_MERGED_BYTE = 64;
const WORK_PER_CHECK = 1 << 15;
const LONG_PIECE_BYTES = 4096;
const BOUND_CHUNK_BYTES = 1 << 16;

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
