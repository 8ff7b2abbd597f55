// The long-piece cache: found only for the very bytes remembered, even against a crafted hash collision, and never for bytes the ring has written over.
import { hashBytes } from '../../lib/tokens/bpe';
import { isLongCached, LONG_CACHED_PIECE_BYTES, LongPieceCache } from '../../lib/tokens/long-piece-cache';
import { CACHED_PIECE_BYTES } from '../../lib/tokens/piece-cache';
import { seededRandom } from './corpus';

const bytes = (text: string) => new TextEncoder().encode(text);

/** Random lowercase pieces of `length` bytes, seeded. */
function randomPieces(seed: number, length: number): () => Uint8Array {
  const random = seededRandom(seed);
  return () => Uint8Array.from({ length }, () => 97 + Math.floor(random() * 26));
}

const RING_BYTES = 512 * 1024;

/** The set of the cache a piece goes to: the top 13 bits of its hash. */
const setOf = (piece: Uint8Array) => hashBytes(piece, 0, piece.length) >>> 19;

/** Two 16-byte pieces with one hash: 32-bit hashes of random pieces collide after about 2^16 draws (the birthday bound). */
function hashCollision(): [Uint8Array, Uint8Array] {
  const next = randomPieces(11, 16);
  const seen = new Map<number, Uint8Array>();
  for (;;) {
    const piece = next();
    const hash = hashBytes(piece, 0, piece.length);
    const earlier = seen.get(hash);
    if (earlier && Buffer.compare(earlier, piece) !== 0) return [earlier, piece];
    seen.set(hash, piece);
  }
}

/** Looks `piece` up and, on a miss, remembers it as `count` tokens; returns what was found. */
function findOrRemember(cache: LongPieceCache, piece: Uint8Array, count: number): number {
  const found = cache.find(piece, piece.length);
  if (found === 0) cache.remember(piece, piece.length, count);
  return found;
}

describe('LongPieceCache', () => {
  test('finds a piece only by its exact bytes and length', () => {
    const cache = new LongPieceCache();
    const pieces = ['東京は晴れです', '👨‍👩‍👧 family', ' something else', 'x'.repeat(LONG_CACHED_PIECE_BYTES), '\0'.repeat(13)];
    pieces.forEach((piece, i) => expect(findOrRemember(cache, bytes(piece), 2 + i)).toBe(0));
    pieces.forEach((piece, i) => expect([piece, cache.find(bytes(piece), bytes(piece).length)]).toEqual([piece, 2 + i]));
    // One byte changed, a prefix, one byte more.
    for (const other of ['東京は晴れでな', '👨‍👩‍👦 family', ' something els', '\0'.repeat(14)])
      expect([other, cache.find(bytes(other), bytes(other).length)]).toEqual([other, 0]);
  });

  test('a piece with the same hash and length as a remembered one is a miss, not its count', () => {
    const [remembered, colliding] = hashCollision();
    const cache = new LongPieceCache();
    findOrRemember(cache, remembered, 3);
    expect(cache.find(colliding, colliding.length)).toBe(0);
    expect(cache.find(remembered, remembered.length)).toBe(3);
  });

  test('a set holds two pieces: a third evicts the oldest, which is then a miss', () => {
    const next = randomPieces(12, 20);
    const bySet = new Map<number, Uint8Array[]>();
    let trio: Uint8Array[] | undefined;
    while (!trio) {
      const piece = next();
      const pieces = [...(bySet.get(setOf(piece)) ?? []), piece];
      bySet.set(setOf(piece), pieces);
      if (pieces.length === 3) trio = pieces;
    }
    const cache = new LongPieceCache();
    trio.forEach((piece, i) => findOrRemember(cache, piece, 4 + i));
    expect(trio.map((piece) => cache.find(piece, piece.length))).toEqual([0, 5, 6]);
  });

  test('bytes the ring has written over are not taken for a remembered piece, even where they collide with it', () => {
    // The ring (512 KB) wraps and writes a piece that opens with `colliding` where `remembered` was.
    const [remembered, colliding] = hashCollision();
    const cache = new LongPieceCache();
    findOrRemember(cache, remembered, 3);
    const next = randomPieces(13, 200);
    const filler = (length: number) => {
      let piece = next().subarray(0, length);
      while (setOf(piece) === setOf(remembered)) piece = next().subarray(0, length);
      return piece;
    };
    let written = remembered.length;
    while (RING_BYTES - written > 256) {
      findOrRemember(cache, filler(200), 9);
      written += 200;
    }
    findOrRemember(cache, filler(RING_BYTES - written - 10), 9);
    expect(cache.find(remembered, remembered.length)).toBe(3);
    findOrRemember(cache, Uint8Array.from([...colliding, 1, 2, 3, 4]), 9);
    expect(cache.find(colliding, colliding.length)).toBe(0);
    expect(cache.find(remembered, remembered.length)).toBe(0);
  });

  test(`takes pieces of ${CACHED_PIECE_BYTES + 1} to ${LONG_CACHED_PIECE_BYTES} bytes`, () => {
    const cache = new LongPieceCache();
    for (const length of [CACHED_PIECE_BYTES + 1, LONG_CACHED_PIECE_BYTES]) {
      const piece = randomPieces(length, length)();
      expect(findOrRemember(cache, piece, length)).toBe(0);
      expect(cache.find(piece, length)).toBe(length);
    }
  });
});

describe('LongPieceCache, where the ring wraps', () => {
  test('a prefix of a remembered piece, in the same set, is a miss', () => {
    const next = randomPieces(14, 20);
    let piece = next();
    while (setOf(piece.subarray(0, 16)) !== setOf(piece)) piece = next();
    const cache = new LongPieceCache();
    findOrRemember(cache, piece, 5);
    expect(cache.find(piece, 16)).toBe(0);
    expect(cache.find(piece, piece.length)).toBe(5);
  });

  test('a piece is found until the ring comes round to its bytes, however full the ring is', () => {
    const remembered = randomPieces(15, 20)();
    const cache = new LongPieceCache();
    findOrRemember(cache, remembered, 3);
    const next = randomPieces(16, 200);
    const filler = (length: number) => {
      let piece = next().subarray(0, length);
      while (setOf(piece) === setOf(remembered)) piece = next().subarray(0, length);
      return piece;
    };
    // Up to the ring's last byte: the next piece would be written over `remembered`.
    let written = remembered.length;
    while (RING_BYTES - written >= 200) {
      findOrRemember(cache, filler(200), 9);
      written += 200;
    }
    const last = filler(RING_BYTES - written);
    findOrRemember(cache, last, 8);
    expect(cache.find(remembered, remembered.length)).toBe(3);
    expect(cache.find(last, last.length)).toBe(8);
  });

  test('a piece that does not fit at the end of the ring is written at its start, and found there', () => {
    const cache = new LongPieceCache();
    const next = randomPieces(17, 200);
    let written = 0;
    while (RING_BYTES - written >= 200) {
      findOrRemember(cache, next(), 9);
      written += 200;
    }
    // 88 bytes are left at the end: a 100-byte piece goes to the start instead.
    const nearEnd = next().subarray(0, 60);
    findOrRemember(cache, nearEnd, 6);
    const wrapped = next().subarray(0, 100);
    expect(findOrRemember(cache, wrapped, 7)).toBe(0);
    expect(cache.find(wrapped, wrapped.length)).toBe(7);
    expect(cache.find(nearEnd, nearEnd.length)).toBe(6);
    const after = next().subarray(0, 50);
    findOrRemember(cache, after, 4);
    expect([cache.find(wrapped, wrapped.length), cache.find(after, after.length)]).toEqual([7, 4]);
  });
});

describe('LongPieceCache, pieces that share a hash', () => {
  test('a remembered piece and its prefix with the same hash: each is found only at its own length', () => {
    // Five bytes that bring the hash back to where the prefix left it (found by a meet-in-the-middle search).
    const prefix = bytes('prefix of sixteen');
    const piece = Uint8Array.from([...prefix, 64, 16, 0, 189, 247]);
    expect(hashBytes(piece, 0, piece.length)).toBe(hashBytes(prefix, 0, prefix.length));
    const cache = new LongPieceCache();
    findOrRemember(cache, piece, 6);
    expect(cache.find(prefix, prefix.length)).toBe(0);
    expect(cache.find(piece, piece.length)).toBe(6);
  });
});

test(`isLongCached takes pieces of ${CACHED_PIECE_BYTES + 1} to ${LONG_CACHED_PIECE_BYTES} bytes`, () => {
  const lengths = [1, CACHED_PIECE_BYTES, CACHED_PIECE_BYTES + 1, LONG_CACHED_PIECE_BYTES, LONG_CACHED_PIECE_BYTES + 1];
  expect(lengths.map(isLongCached)).toEqual([false, false, true, true, false]);
});
