// Integer counters with an expiry, grouped by expiry time so that forgetting them costs O(expired).

/** Expiry times are rounded up to this, so that counters made in the same second share a group. */
const GROUP_MS = 1000;

interface ExpiryGroup {
  expiresAtMs: number;
  /** Every key created into this group; a key re-created later belongs to its new group. */
  keys: string[];
}

interface Counter {
  value: number;
  group: ExpiryGroup;
}

/** Counters as Redis keeps them: created with an expiry that later writes never move. */
export class ExpiringCounters {
  private readonly counters = new Map<string, Counter>();
  private readonly groups = new Map<number, ExpiryGroup>();
  /** Expiry times of `groups`, ascending (there are few: one per period end, one per bucket). */
  private readonly expiries: number[] = [];
  /** How far an interrupted sweep got, and into which group. */
  private sweepCursor: { group: ExpiryGroup; next: number } | undefined;

  /** Counters held, including expired ones not yet swept. */
  get size(): number {
    return this.counters.size;
  }

  /** The counter's value, or undefined when it does not exist or has expired. */
  get(key: string, nowMs: number): number | undefined {
    return this.live(key, nowMs)?.value;
  }

  /** Adds to a counter, creating it (expiring at `expiresAtMs`) when it does not exist. */
  add(key: string, amount: number, expiresAtMs: number, nowMs: number): number {
    let counter = this.live(key, nowMs);
    if (!counter) {
      const group = this.groupFor(expiresAtMs);
      const storedKey = flatCopy(key);
      group.keys.push(storedKey);
      counter = { value: 0, group };
      this.counters.set(storedKey, counter);
    }
    counter.value += amount;
    return counter.value;
  }

  /** Moves an existing counter by `delta`, never below zero; a missing or expired one stays missing. */
  moveExisting(key: string, delta: number, nowMs: number): void {
    const counter = this.live(key, nowMs);
    if (counter) counter.value = Math.max(0, counter.value + delta);
  }

  /**
   * Adds to the counter `key`, created to expire `keepMs` after the live counter
   * `companion`; returns its value before and after, or undefined when `companion` is gone.
   */
  addAlongside(key: string, amount: number, companion: string, nowMs: number, keepMs = 0): [number, number] | undefined {
    const beside = this.live(companion, nowMs);
    if (!beside) return undefined;
    const before = this.get(key, nowMs) ?? 0;
    return [before, this.add(key, amount, beside.group.expiresAtMs + keepMs, nowMs)];
  }

  /** Whether some counter has expired and waits to be swept. */
  hasExpired(nowMs: number): boolean {
    return this.expiries.length > 0 && this.expiries[0]! <= nowMs;
  }

  /** Forgets expired counters, looking at no more than `maxKeys` keys; returns how many it removed. */
  sweep(nowMs: number, maxKeys = Infinity): number {
    let removed = 0;
    let looked = 0;
    while (this.hasExpired(nowMs)) {
      const expiresAtMs = this.expiries[0]!;
      const group = this.groups.get(expiresAtMs)!;
      if (this.sweepCursor?.group !== group) this.sweepCursor = { group, next: 0 };
      const cursor = this.sweepCursor;
      while (cursor.next < group.keys.length) {
        if (looked++ >= maxKeys) return removed;
        const key = group.keys[cursor.next++]!;
        if (this.counters.get(key)?.group === group) {
          this.counters.delete(key);
          removed++;
        }
      }
      this.groups.delete(expiresAtMs);
      this.expiries.shift();
      this.sweepCursor = undefined;
    }
    return removed;
  }

  clear(): void {
    this.counters.clear();
    this.groups.clear();
    this.expiries.length = 0;
    this.sweepCursor = undefined;
  }

  private live(key: string, nowMs: number): Counter | undefined {
    const counter = this.counters.get(key);
    return counter && counter.group.expiresAtMs > nowMs ? counter : undefined;
  }

  private groupFor(expiresAtMs: number): ExpiryGroup {
    const rounded = Math.ceil(expiresAtMs / GROUP_MS) * GROUP_MS;
    let group = this.groups.get(rounded);
    if (!group) {
      group = { expiresAtMs: rounded, keys: [] };
      this.groups.set(rounded, group);
      this.expiries.splice(insertionIndex(this.expiries, rounded), 0, rounded);
    }
    return group;
  }
}

/** Where `value` goes in the ascending `sorted` (binary search). */
function insertionIndex(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * A flat copy of `key`. Keys built by concatenation are ropes that keep every piece
 * alive; held a day for each of a million users, they would double the store's heap.
 */
function flatCopy(key: string): string {
  return JSON.parse(JSON.stringify(key)) as string;
}
