// What short pieces came to, remembered: most pieces of real text are a few common words, and the rank table's lookups miss the cache.

/** Pieces up to this many bytes are remembered: their bytes fit three 32-bit words. */
export const CACHED_PIECE_BYTES = 12;

const SLOT_BITS = 14;
const SLOT_MASK = (1 << SLOT_BITS) - 1;

/** A remembered piece: whether it is one token (and which) and how many tokens it merges to. */
export interface CachedPiece {
  /** The piece's token when it is one, else -1. */
  rank: number;
  count: number;
}

/**
 * A direct-mapped cache from the bytes of a short piece to its token (when it is
 * one) and its token count: four 32-bit words a slot (the bytes, and length, count
 * and rank + 1 packed), 256 KB in all, so that hot entries stay in the CPU's cache
 * where the rank table (megabytes, probed at random) does not.
 */
export class PieceCache {
  private readonly slots = new Int32Array(4 << SLOT_BITS);
  private first = 0;
  private second = 0;
  private third = 0;
  private slot = 0;

  /**
   * Looks `bytes[0, length)` up (length ≤ CACHED_PIECE_BYTES); returns the packed
   * entry (decode with `rankOf` / `countOf`), or 0 when it is not remembered. The
   * piece is kept in mind for a `remember` that follows.
   */
  find(bytes: Uint8Array, length: number): number {
    const first = word(bytes, 0, length);
    const second = length > 4 ? word(bytes, 4, length) : 0;
    const third = length > 8 ? word(bytes, 8, length) : 0;
    this.first = first;
    this.second = second;
    this.third = third;
    const hash = Math.imul(first, 0x9e3779b1) ^ Math.imul(second + length, 0x85ebca77) ^ Math.imul(third, 0xc2b2ae35);
    const slot = 4 * ((hash >>> (32 - SLOT_BITS)) & SLOT_MASK);
    this.slot = slot;
    const { slots } = this;
    const entry = slots[slot + 3]!;
    return entry !== 0 &&
      (entry & 0xf) === length &&
      slots[slot] === first &&
      slots[slot + 1] === second &&
      slots[slot + 2] === third
      ? entry
      : 0;
  }

  /** Remembers the piece last passed to `find`: its token (or -1) and its count (< 16). */
  remember(length: number, rank: number, count: number): void {
    const { slots, slot } = this;
    slots[slot] = this.first;
    slots[slot + 1] = this.second;
    slots[slot + 2] = this.third;
    slots[slot + 3] = length | (count << 4) | ((rank + 1) << 8);
  }
}

/** Bytes `from` to `from + 4` (those before `length`) as one little-endian word. */
function word(bytes: Uint8Array, from: number, length: number): number {
  let value = 0;
  for (let i = from; i < length && i < from + 4; i++) value |= bytes[i]! << (8 * (i - from));
  return value;
}

/** The token of a found entry, or -1 when the piece is not one token. */
export const rankOf = (entry: number) => (entry >>> 8) - 1;

/** The token count of a found entry. */
export const countOf = (entry: number) => (entry >>> 4) & 0xf;
