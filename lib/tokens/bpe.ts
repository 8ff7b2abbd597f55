// Byte-pair merge of one pre-tokenized piece, exactly as tiktoken, over a rank table that allocates nothing per lookup.
import type { Slice, Steps } from './slice';

/** The rank of a byte string that is no token; larger than every real rank, so a minimum search skips it. */
export const NO_RANK = 0x7fffffff;

const JOINED_CACHE_MASK = (1 << 14) - 1;

// Bound once: where globals are slow to look up (a vm context, as under Jest), the
// hot loops would otherwise spend most of their time finding `Math`.
const { floor, imul, max, min } = Math;

/**
 * Token ranks keyed by their bytes: open addressing over one byte store, so a
 * lookup of any byte span allocates nothing (a Map would need a string per span).
 * What one probe reads sits side by side, to touch as few cache lines as it can.
 */
export class RankTable {
  /** The longest token in bytes: no longer span can be one token. */
  readonly maxTokenBytes: number;
  /** The longest token that starts with each byte. */
  private readonly maxTokenBytesFrom = new Int32Array(256);
  /** The rank of each single byte. */
  readonly byteRanks = new Int32Array(256);
  /** The rank of each two-byte string, at `(first << 8) | second`. */
  readonly bytePairRanks = new Int32Array(65536);
  private readonly slots: Int32Array; // per slot: hash, rank + 1 (0 = empty)
  private readonly slotMask: number;
  private readonly joinedCache = new Int32Array(3 * (JOINED_CACHE_MASK + 1)).fill(-1); // left, right, joined

  /**
   * `tokenBytes.subarray(tokenSpans[2r], tokenSpans[2r + 1])` is the token of rank
   * `r` (empty for a rank not in use).
   */
  constructor(
    private readonly tokenBytes: Uint8Array,
    private readonly tokenSpans: Int32Array,
  ) {
    const ranks = tokenSpans.length / 2;
    // A load factor under 0.4 keeps probe chains short.
    const size = 2 ** Math.ceil(Math.log2(ranks * 2.5));
    this.slots = new Int32Array(2 * size);
    this.slotMask = size - 1;
    for (let rank = 0; rank < ranks; rank++) {
      const start = tokenSpans[2 * rank]!;
      const end = tokenSpans[2 * rank + 1]!;
      if (end === start) continue;
      const hash = hashBytes(tokenBytes, start, end);
      let slot = hash & this.slotMask;
      while (this.slots[2 * slot + 1] !== 0) slot = (slot + 1) & this.slotMask;
      this.slots[2 * slot] = hash;
      this.slots[2 * slot + 1] = rank + 1;
      const first = tokenBytes[start]!;
      this.maxTokenBytesFrom[first] = Math.max(this.maxTokenBytesFrom[first]!, end - start);
    }
    this.maxTokenBytes = Math.max(...this.maxTokenBytesFrom);
    const pair = new Uint8Array(2);
    for (let byte = 0; byte < 256; byte++) {
      pair[0] = byte;
      const rank = this.probe(pair, 0, 1);
      if (rank === NO_RANK) throw new Error(`BPE ranks have no token for byte ${byte}`);
      this.byteRanks[byte] = rank;
    }
    for (let code = 0; code < 65536; code++) {
      pair[0] = code >> 8;
      pair[1] = code & 0xff;
      this.bytePairRanks[code] = this.probe(pair, 0, 2);
    }
  }

  /**
   * From js-tiktoken's `bpe_ranks`: lines of `<any> <first rank> <base64 token>...`,
   * the tokens on a line having consecutive ranks. Decoded by hand, without a
   * string per token, because that is most of an encoder's build time.
   */
  static fromTiktoken(bpeRanks: string): RankTable {
    const lines = bpeRanks.split('\n').filter((line) => line.length > 0);
    const firstRanks = lines.map((line) => Number(line.split(' ', 2)[1]));
    let maxRank = -1;
    lines.forEach((line, i) => (maxRank = Math.max(maxRank, firstRanks[i]! + countChar(line, ' ') - 2)));
    const bytes = new Uint8Array(Math.ceil((bpeRanks.length * 3) / 4));
    const spans = new Int32Array(2 * (maxRank + 1));
    let length = 0;
    lines.forEach((line, i) => {
      let rank = firstRanks[i]!;
      for (let start = line.indexOf(' ', line.indexOf(' ') + 1) + 1; start > 0;) {
        const space = line.indexOf(' ', start);
        const end = space < 0 ? line.length : space;
        spans[2 * rank] = length;
        length = decodeBase64(line, start, end, bytes, length);
        spans[2 * rank++ + 1] = length;
        start = space + 1;
      }
    });
    return new RankTable(bytes.slice(0, length), spans);
  }

  /**
   * A lower bound on the tokens of `bytes[0, length)`, in O(length): the fewest
   * tiles that cover it when a tile may be as long as the longest token starting
   * with its first byte (greedy breadth-first, as in "jump game"). Lowercase
   * letters start no token longer than 26 bytes, so a long run cannot be few tokens.
   * Bytes cut from the middle of a text may begin inside a token: `firstTileBytes`
   * then says how far the first tile may reach, whatever its first byte.
   */
  minTokens(bytes: Uint8Array, length: number, firstTileBytes = 0): number {
    let tiles = 0;
    let tileEnd = 0;
    let farthest = firstTileBytes;
    for (let i = 0; i < length; i++) {
      farthest = max(farthest, i + this.maxTokenBytesFrom[bytes[i]!]!);
      if (i === tileEnd) {
        tiles++;
        tileEnd = farthest;
      }
    }
    return tiles;
  }

  /**
   * The rank of tokens `left` and `right` joined, which are `bytes[start, end)`, or
   * `NO_RANK`. Remembered in a small direct-mapped cache: merges ask about the
   * same pairs again and again, and a hit spares hashing and probing.
   */
  joinedRank(left: number, right: number, bytes: Uint8Array, start: number, end: number): number {
    const cache = this.joinedCache;
    const at = 3 * ((imul(left, 0x9e3779b1) ^ right) & JOINED_CACHE_MASK);
    if (cache[at] === left && cache[at + 1] === right) return cache[at + 2]!;
    const rank = this.rank(bytes, start, end);
    cache[at] = left;
    cache[at + 1] = right;
    cache[at + 2] = rank;
    return rank;
  }

  /** The rank of the token `bytes[start, end)`, or `NO_RANK`. */
  rank(bytes: Uint8Array, start: number, end: number): number {
    switch (end - start) {
      case 1:
        return this.byteRanks[bytes[start]!]!;
      case 2:
        return this.bytePairRanks[(bytes[start]! << 8) | bytes[start + 1]!]!;
      default:
        return end - start > this.maxTokenBytes ? NO_RANK : this.probe(bytes, start, end);
    }
  }

  private probe(bytes: Uint8Array, start: number, end: number): number {
    const length = end - start;
    const hash = hashBytes(bytes, start, end);
    const { slots, slotMask, tokenBytes, tokenSpans } = this;
    for (let slot = hash & slotMask; ; slot = (slot + 1) & slotMask) {
      const entry = slots[2 * slot + 1]!;
      if (entry === 0) return NO_RANK;
      if (slots[2 * slot] !== hash) continue;
      const tokenStart = tokenSpans[2 * entry - 2]!;
      if (tokenSpans[2 * entry - 1]! - tokenStart !== length) continue;
      let i = 0;
      while (i < length && tokenBytes[tokenStart + i] === bytes[start + i]) i++;
      if (i === length) return entry - 1;
    }
  }
}

const BASE64_DIGITS = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('')
  .forEach((digit, value) => (BASE64_DIGITS[digit.charCodeAt(0)] = value));

/** Decodes base64 `text[start, end)` into `out` from `at`; returns where the bytes end. */
function decodeBase64(text: string, start: number, end: number, out: Uint8Array, at: number): number {
  let bits = 0;
  let bitCount = 0;
  for (let i = start; i < end; i++) {
    const digit = BASE64_DIGITS[text.charCodeAt(i)]!;
    if (digit < 0) break; // '=' padding
    bits = ((bits << 6) | digit) & 0xffff;
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      out[at++] = bits >> bitCount;
    }
  }
  return at;
}

function countChar(text: string, char: string): number {
  let count = 0;
  for (let i = text.indexOf(char); i >= 0; i = text.indexOf(char, i + 1)) count++;
  return count;
}

/** FNV-1a, mixed so that the low bits used as the slot depend on every byte. */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = imul(hash ^ bytes[i]!, 0x01000193);
  return hash ^ (hash >>> 15);
}

/**
 * Pieces up to this many bytes use the quadratic scan, longer ones the heap.
 * Measured on random letters: the scan takes 40% of the heap's time at 8 bytes,
 * 85% at 32, the same at 40, and 2.9× as long at 256.
 */
export const SCAN_MAX_BYTES = 40;

/**
 * Merges `bytes[0, length)` the way tiktoken does: repeatedly the adjacent pair
 * of parts whose concatenation has the lowest rank, leftmost on ties. Appends
 * the tokens' ranks to `out` when given; returns how many tokens there are.
 */
export function bytePairMerge(table: RankTable, bytes: Uint8Array, length: number, out: number[] | null): number {
  return length <= SCAN_MAX_BYTES ? mergeByScan(table, bytes, length, out) : mergeByHeap(table, bytes, length, out);
}

// Scratch of the scan path, reused so a short piece allocates nothing.
let scanStarts = new Int32Array(SCAN_MAX_BYTES + 1);
let scanPairRanks = new Int32Array(SCAN_MAX_BYTES);
let scanTokens = new Int32Array(SCAN_MAX_BYTES);

/** tiktoken's own algorithm: find the lowest pair by a scan, merge, repeat — O(k²). */
export function mergeByScan(table: RankTable, bytes: Uint8Array, length: number, out: number[] | null): number {
  if (length > scanTokens.length) {
    scanStarts = new Int32Array(length + 1);
    scanPairRanks = new Int32Array(length);
    scanTokens = new Int32Array(length);
  }
  // Part i is bytes[starts[i], starts[i + 1]); pairRanks[i] is the rank of parts i and i + 1 joined.
  const starts = scanStarts;
  const pairRanks = scanPairRanks;
  const tokens = scanTokens;
  const { byteRanks, bytePairRanks } = table;
  let parts = length;
  for (let i = 0; i < length; i++) {
    starts[i] = i;
    tokens[i] = byteRanks[bytes[i]!]!;
    pairRanks[i] = i + 1 < length ? bytePairRanks[(bytes[i]! << 8) | bytes[i + 1]!]! : NO_RANK;
  }
  starts[length] = length;
  for (;;) {
    let best = 0;
    let bestRank = NO_RANK;
    for (let i = 0; i < parts - 1; i++) {
      if (pairRanks[i]! < bestRank) {
        bestRank = pairRanks[i]!;
        best = i;
      }
    }
    if (bestRank === NO_RANK) break;
    tokens[best] = bestRank;
    parts--;
    for (let i = best + 1; i < parts; i++) {
      starts[i] = starts[i + 1]!;
      tokens[i] = tokens[i + 1]!;
      pairRanks[i] = pairRanks[i + 1]!;
    }
    starts[parts] = length;
    pairRanks[best] =
      best + 1 < parts ? table.joinedRank(bestRank, tokens[best + 1]!, bytes, starts[best]!, starts[best + 2]!) : NO_RANK;
    if (best > 0) {
      pairRanks[best - 1] = table.joinedRank(tokens[best - 1]!, bestRank, bytes, starts[best - 1]!, starts[best + 1]!);
    }
  }
  if (out) for (let i = 0; i < parts; i++) out.push(tokens[i]!);
  return parts;
}

// An entry is one number, rank · 2³² + start: ordering by it is lowest rank
// first, leftmost on ties. Exact in a double while rank < 2²¹ and start < 2³².
const START_SPAN = 2 ** 32;
// Four children per node: half the levels of a binary heap; the extra compares sit in one cache line.
const ARITY = 4;

/** A min-heap of (rank, start) pairs; grows as needed. */
class PairQueue {
  size = 0;
  private entries: Float64Array;

  constructor(expected: number) {
    this.entries = new Float64Array(Math.max(16, expected >> 2));
  }

  topRank(): number {
    return floor(this.entries[0]! / START_SPAN);
  }

  topStart(): number {
    return this.entries[0]! % START_SPAN;
  }

  push(rank: number, start: number): void {
    if (this.size === this.entries.length) {
      const grown = new Float64Array(2 * this.size);
      grown.set(this.entries);
      this.entries = grown;
    }
    const entries = this.entries;
    const entry = rank * START_SPAN + start;
    let i = this.size++;
    while (i > 0) {
      const parent = ((i - 1) / ARITY) | 0;
      if (entries[parent]! <= entry) break;
      entries[i] = entries[parent]!;
      i = parent;
    }
    entries[i] = entry;
  }

  pop(): void {
    const entries = this.entries;
    const size = --this.size;
    const entry = entries[size]!;
    let i = 0;
    for (;;) {
      const first = ARITY * i + 1;
      if (first >= size) break;
      let child = first;
      const last = min(first + ARITY, size);
      for (let c = first + 1; c < last; c++) if (entries[c]! < entries[child]!) child = c;
      if (entries[child]! >= entry) break;
      entries[i] = entries[child]!;
      i = child;
    }
    entries[i] = entry;
  }
}

/**
 * The same merges in O(k log k). Parts form a linked list; a heap holds the pairs
 * that are local minima (lower than the pair on their left, not higher than the
 * one on their right), since the next merge is always one of them. Runs of equal
 * pairs thus keep the heap small, where a heap of every pair would not fit in
 * cache on a long piece. An entry whose pair has changed since is skipped when
 * popped: ranks identify byte strings and parts only grow, so an unchanged rank
 * at an unchanged start means an unchanged pair.
 */
export function mergeByHeap(table: RankTable, bytes: Uint8Array, length: number, out: number[] | null): number {
  // The scratch of a piece up to 64 KB is kept for the next one; a longer piece's is left to the GC.
  const merge = length <= heapScratch.capacity ? heapScratch : new HeapMerge(length);
  if (length > heapScratch.capacity && length <= 1 << 16) heapScratch = merge;
  merge.begin(table, bytes, length);
  merge.advance(Infinity);
  return merge.finish(out);
}

/** Queue pushes and pops between two looks at the clock in `mergeInSteps`: about a millisecond on a long piece (cache misses). */
const STEPS_PER_CHECK = 1 << 10;

/**
 * `mergeByHeap` for work cut into slices: yields whenever `slice` is due. It has
 * scratch of its own (the shared one may serve other counts meanwhile), and
 * `bytes` must stay untouched until it returns.
 */
export function* mergeInSteps(
  table: RankTable,
  bytes: Uint8Array,
  length: number,
  out: number[] | null,
  slice: Slice,
): Steps<number> {
  const merge = new HeapMerge(length);
  merge.begin(table, bytes, length);
  do if (slice.due()) yield;
  while (!merge.advance(STEPS_PER_CHECK));
  return merge.finish(out);
}

/** One merge by heap, resumable: `begin`, `advance` until it says done, `finish`. */
class HeapMerge {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  /** Rank of parts i and next[i] joined; NO_RANK also marks a part merged away. */
  readonly pairRanks: Int32Array;
  /** The rank last queued for the pair at i, so a pair is queued once. */
  readonly queuedRanks: Int32Array;
  readonly tokens: Int32Array;
  readonly queue: PairQueue;
  private table!: RankTable;
  private bytes!: Uint8Array;
  private length = 0;
  /** Parts before this index are set up. */
  private filled = 0;
  /** Pairs before this index have been offered to the queue. */
  private queued = 0;

  constructor(readonly capacity: number) {
    this.next = new Int32Array(capacity);
    this.prev = new Int32Array(capacity);
    this.pairRanks = new Int32Array(capacity);
    this.queuedRanks = new Int32Array(capacity);
    this.tokens = new Int32Array(capacity);
    this.queue = new PairQueue(capacity);
  }

  begin(table: RankTable, bytes: Uint8Array, length: number): void {
    this.queue.size = 0;
    this.table = table;
    this.bytes = bytes;
    this.length = length;
    this.filled = 0;
    this.queued = 0;
  }

  /** Up to `steps` steps (a part set up, a pair queued or popped); true once the merge is done. */
  advance(steps: number): boolean {
    const { next, prev, pairRanks, queuedRanks, tokens, queue, table, bytes, length } = this;
    const { byteRanks, bytePairRanks } = table;
    if (this.filled < length) {
      const from = this.filled;
      const to = Math.min(length, from + steps);
      for (let i = from; i < to; i++) {
        next[i] = i + 1;
        prev[i] = i - 1;
        tokens[i] = byteRanks[bytes[i]!]!;
        pairRanks[i] = i + 1 < length ? bytePairRanks[(bytes[i]! << 8) | bytes[i + 1]!]! : NO_RANK;
        queuedRanks[i] = NO_RANK;
      }
      this.filled = to;
      steps -= to - from;
      if (to < length) return false;
    }
    // The heap must hold every local minimum before the first pop.
    if (this.queued < length) {
      const from = this.queued;
      const to = Math.min(length, from + Math.max(steps, 0));
      for (let i = from; i < to; i++) this.enqueueIfLocalMinimum(i, length);
      this.queued = to;
      steps -= to - from;
      if (to < length) return false;
    }
    while (queue.size > 0) {
      if (steps-- <= 0) return false;
      const rank = queue.topRank();
      const left = queue.topStart();
      queue.pop();
      if (pairRanks[left] !== rank) continue;
      const right = next[left]!;
      const after = next[right]!;
      tokens[left] = rank;
      next[left] = after;
      if (after < length) prev[after] = left;
      pairRanks[right] = NO_RANK;
      pairRanks[left] = after < length ? table.joinedRank(rank, tokens[after]!, bytes, left, next[after]!) : NO_RANK;
      const before = prev[left]!;
      if (before >= 0) pairRanks[before] = table.joinedRank(tokens[before]!, rank, bytes, before, after);
      // Only these four pairs changed, or had a neighbour change.
      if (before >= 0) {
        if (prev[before]! >= 0) this.enqueueIfLocalMinimum(prev[before]!, length);
        this.enqueueIfLocalMinimum(before, length);
      }
      this.enqueueIfLocalMinimum(left, length);
      if (after < length) this.enqueueIfLocalMinimum(after, length);
    }
    return true;
  }

  /** Appends the tokens to `out` when given; returns how many there are. */
  finish(out: number[] | null): number {
    const { next, tokens, length } = this;
    let parts = 0;
    for (let i = 0; i < length; i = next[i]!) {
      parts++;
      out?.push(tokens[i]!);
    }
    this.bytes = NO_BYTES; // kept scratch must not pin a long piece's bytes
    return parts;
  }

  private enqueueIfLocalMinimum(i: number, length: number): void {
    const { pairRanks, prev, next, queuedRanks } = this;
    const rank = pairRanks[i]!;
    if (rank === NO_RANK || queuedRanks[i] === rank) return;
    if (prev[i]! >= 0 && pairRanks[prev[i]!]! <= rank) return;
    if (next[i]! < length && pairRanks[next[i]!]! < rank) return;
    queuedRanks[i] = rank;
    this.queue.push(rank, i);
  }
}

const NO_BYTES = new Uint8Array(0);
let heapScratch = new HeapMerge(256);
