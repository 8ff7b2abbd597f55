// The short-piece cache: found only for the very bytes remembered, and what it remembers is what counting finds.
import { CACHED_PIECE_BYTES, countOf, PieceCache, rankOf } from '../../lib/tokens/piece-cache';
import { get_encoding } from 'tiktoken';
import { getEncoder } from '../../lib/tokens/encoder';
import { seededRandom } from './corpus';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('PieceCache', () => {
  test('finds a piece only by its exact bytes and length, up to CACHED_PIECE_BYTES', () => {
    const cache = new PieceCache();
    const pieces = ['a', 'ab', ' the', ' hello', 'αβγδ', ' something', 'x'.repeat(CACHED_PIECE_BYTES), '\0', '\0\0', 'a\0'];
    pieces.forEach((piece, i) => {
      const b = bytes(piece);
      expect(cache.find(b, b.length)).toBe(0);
      cache.remember(b.length, i % 2 ? -1 : 1000 + i, 1 + (i % 7));
    });
    pieces.forEach((piece, i) => {
      const b = bytes(piece);
      const entry = cache.find(b, b.length);
      expect([piece, rankOf(entry), countOf(entry)]).toEqual([piece, i % 2 ? -1 : 1000 + i, 1 + (i % 7)]);
    });
    // Same length, other bytes; a prefix; the same bytes with a NUL more.
    for (const other of [' thf', ' hellp', 'αβγε', ' th', '\0\0\0'])
      expect(cache.find(bytes(other), bytes(other).length)).toBe(0);
  });

  test("counting the same random pieces again and again (cache warm) gives tiktoken's tokens every time", () => {
    const encoder = getEncoder('cl100k_base');
    const oracle = get_encoding('cl100k_base');
    const random = seededRandom(5);
    const words = Array.from({ length: 3_000 }, () =>
      String.fromCharCode(...Array.from({ length: 1 + Math.floor(random() * 11) }, () => 97 + Math.floor(random() * 26))),
    );
    const text = words.join(' ');
    const expected = Array.from(oracle.encode_ordinary(text));
    oracle.free();
    for (let i = 0; i < 3; i++) {
      expect(encoder.count(text)).toBe(expected.length);
      expect(encoder.encode(text)).toEqual(expected);
    }
  });
});

describe('PieceCache, one piece a slot', () => {
  /**
   * A piece of `length` bytes that opens with `prefix` and shares `piece`'s slot: remembered after it, it puts
   * `piece` out (the cache is direct-mapped). Random letters fill the rest.
   */
  function sameSlot(piece: Uint8Array, prefix: Uint8Array, seed: number): Uint8Array {
    const random = seededRandom(seed);
    const cache = new PieceCache();
    cache.find(piece, piece.length);
    cache.remember(piece.length, 1, 1);
    for (let tries = 0; tries < 1_000_000; tries++) {
      const other = Uint8Array.from({ length: piece.length }, (_, i) => prefix[i] ?? 97 + Math.floor(random() * 26));
      if (Buffer.compare(other, piece) === 0) continue;
      cache.find(other, other.length);
      cache.remember(other.length, 2, 1);
      if (cache.find(piece, piece.length) === 0) return other;
    }
    throw new Error('no piece of that slot found');
  }

  test.each([
    ['first four', 'wxyz', ''],
    ['second four', 'abcdwxyz', 'abcd'],
    ['last four', 'abcdefghwxyz', 'abcdefgh'],
  ])('a piece in the slot of a remembered one, differing only in its %s bytes, is a miss', (_, text, prefix) => {
    const piece = bytes(text);
    const other = sameSlot(piece, bytes(prefix), text.length);
    const cache = new PieceCache();
    cache.find(piece, piece.length);
    cache.remember(piece.length, 77, 1);
    expect([new TextDecoder().decode(other), cache.find(other, other.length)]).toEqual([new TextDecoder().decode(other), 0]);
    expect(rankOf(cache.find(piece, piece.length))).toBe(77);
  });
});

describe('PieceCache, the bytes of a piece', () => {
  test('reads only the first `length` bytes of the buffer it is given', () => {
    const cache = new PieceCache();
    for (const [remembered, looked, length] of [
      ['abcd', 'abxy', 2],
      ['abcdefg', 'abcdexy', 5],
      ['abcdefghijkl', 'abcdefghijXY', 10],
    ] as const) {
      cache.find(bytes(remembered), length);
      cache.remember(length, -1, 3);
      expect([looked, length, countOf(cache.find(bytes(looked), length))]).toEqual([looked, length, 3]);
    }
  });

  test('pieces that differ in one byte whose bits another byte of the piece also holds are told apart', () => {
    // 'a' (0x61) and '`' (0x60) differ in one bit, which the 'a' four bytes on holds too.
    const cache = new PieceCache();
    const piece = bytes('abcdafghijkl');
    cache.find(piece, piece.length);
    cache.remember(piece.length, -1, 4);
    for (const other of ['`bcdafghijkl', 'abcd`fghijkl', 'abcdafgh`jkl'])
      expect([other, cache.find(bytes(other), bytes(other).length)]).toEqual([other, 0]);
    expect(countOf(cache.find(piece, piece.length))).toBe(4);
  });
});
