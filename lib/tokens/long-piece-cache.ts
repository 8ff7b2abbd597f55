// What longer pieces counted to, remembered: a CJK phrase or an emoji sequence is one piece of dozens of bytes, and merging it is most of a count.
import { hashBytes } from './bpe';
import { CACHED_PIECE_BYTES } from './piece-cache';

/** Pieces longer than CACHED_PIECE_BYTES and up to this many bytes have their token count remembered. */
export const LONG_CACHED_PIECE_BYTES = 256;

const SET_BITS = 13;
const RING_BYTES = 1 << 19;

/**
 * A two-way set-associative cache from the bytes of a piece to its token count: per
 * slot the piece's hash, length, count and where its bytes are in one ring of
 * 512 KB (a position that only grows, so bytes the ring has written over since are
 * never taken for the piece's). A piece is found only by its exact bytes, so a
 * crafted hash collision costs a miss, never a wrong count. About 700 KB in all,
 * however many pieces pass through.
 */
export class LongPieceCache {
  private readonly hashes = new Int32Array(2 << SET_BITS);
  /** Per slot: length | count << 16; 0 = empty. */
  private readonly sizes = new Int32Array(2 << SET_BITS);
  /** Per slot: where its bytes start, counted in bytes ever written to the ring. */
  private readonly positions = new Float64Array(2 << SET_BITS);
  private readonly ring = new Uint8Array(RING_BYTES);
  /** Bytes ever written to the ring, the gaps left at its end included. */
  private written = 0;
  private hash = 0;

  /**
   * The token count remembered for `bytes[0, length)` (CACHED_PIECE_BYTES < length
   * ≤ LONG_CACHED_PIECE_BYTES), or 0. The piece is kept in mind for a `remember` that follows.
   */
  find(bytes: Uint8Array, length: number): number {
    const hash = hashBytes(bytes, 0, length);
    this.hash = hash;
    const first = 2 * (hash >>> (32 - SET_BITS));
    return this.countAt(first, hash, bytes, length) || this.countAt(first + 1, hash, bytes, length);
  }

  /** Remembers the piece last passed to `find` as `count` tokens, in the first slot of its set (the one there moves to the second). */
  remember(bytes: Uint8Array, length: number, count: number): void {
    let at = this.written % RING_BYTES;
    if (at + length > RING_BYTES) {
      this.written += RING_BYTES - at;
      at = 0;
    }
    this.ring.set(bytes.subarray(0, length), at);
    const { hashes, sizes, positions } = this;
    const first = 2 * (this.hash >>> (32 - SET_BITS));
    hashes[first + 1] = hashes[first]!;
    sizes[first + 1] = sizes[first]!;
    positions[first + 1] = positions[first]!;
    hashes[first] = this.hash;
    sizes[first] = length | (count << 16);
    positions[first] = this.written;
    this.written += length;
  }

  /** The count in `slot` when it holds these bytes, else 0. */
  private countAt(slot: number, hash: number, bytes: Uint8Array, length: number): number {
    const size = this.sizes[slot]!;
    if ((size & 0xffff) !== length || this.hashes[slot] !== hash) return 0;
    const position = this.positions[slot]!;
    // The ring has come round to these bytes since: another piece's may be there now.
    if (this.written - position > RING_BYTES) return 0;
    const { ring } = this;
    const at = position % RING_BYTES;
    for (let i = 0; i < length; i++) if (ring[at + i] !== bytes[i]) return 0;
    return size >>> 16;
  }
}

/** Whether a piece of `length` bytes is for the long-piece cache. */
export const isLongCached = (length: number) => length > CACHED_PIECE_BYTES && length <= LONG_CACHED_PIECE_BYTES;
