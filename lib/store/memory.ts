// memoryStore: the embedded store for one process, with the same semantics as the Redis store.
import { checkOptionNames, optionNames } from '../options/check';
import { ExpiringCounters } from './expiring-counters';
import { affordableOutput, amountOf, callUsageOf, inputAmountOf, reservedAmountOf } from './amounts';
import { spentKeyOf } from './leases';
import { MemoryRankings } from './memory-rankings';
import {
  type CallUsage,
  type CountedElsewhere,
  DEFAULT_LEASE_MS,
  type RankIncrement,
  type RankedMember,
  type ReserveRequest,
  type ReserveResult,
  type Reservation,
  type ScopeRequest,
  type ScopeState,
  type SettleReport,
  type SpendMove,
  type Store,
} from './types';
import { assertTokenCount, grantedResult, planWindow, refusedResult, scopeState, sumOf, type WindowPlan } from './windows';

export interface MemoryStoreOptions {
  /** The store's clock, epoch ms. Default `Date.now`; tests inject their own. */
  now?: () => number;
  /** How often expired windows are swept, ms. Default 10,000. */
  sweepIntervalMs?: number;
}

/** A reservation's hold on one scope's counter until it is settled or its process is presumed dead. */
interface Lease {
  windowKey: string;
  amount: number;
  input: number;
  expiresAtMs: number;
}

export interface MemoryStore extends Store {
  /**
   * Counts `used` tokens in the scope's current window unless it has a counter
   * already: how an outage fallback starts from what the primary store last said.
   */
  seed(scope: ScopeRequest, used: number): void;
  /** Whether the scope's current window has a counter here. */
  counts(scope: ScopeRequest): boolean;
  /** Forgets every counter and lease (a fallback, once the primary store has taken its counts back). */
  reset(): void;
  add(counts: readonly CountedElsewhere[], batchId?: string): Promise<SettleReport>;
  spentAt(scope: ScopeRequest, atMs: readonly number[]): Promise<number[]>;
  rank(increments: readonly RankIncrement[]): Promise<void>;
  ranked(key: string, limit: number): Promise<RankedMember[]>;
  /** Forgets every expired window now (a timer also does it every `sweepIntervalMs`); returns how many. */
  sweep(): number;
  /** Window counters held, including expired ones not yet swept. */
  readonly size: number;
  close(): Promise<void>;
}

/** The stores `memoryStore()` made: never unreachable, so a budget uses them without the outage policies' wrapper. */
const memoryStores = new WeakSet<MemoryStore>();

/** Keys looked at per turn of the event loop when the timer sweeps, so a midnight with 1M expiring users never blocks. */
const SWEEP_SLICE = 10_000;
/** Reclaimed leases remembered for their late settle, and settled spend moves for a retry: the newest this many. */
const MAX_RECLAIMED = 10_000;

const MEMORY_STORE_OPTION_NAMES = optionNames<MemoryStoreOptions>({ now: true, sweepIntervalMs: true });

/**
 * Budgets counted in this process's memory: correct for one process, lost on
 * restart. Windows are the same as Redis's (calendar periods, sliding buckets,
 * counters that expire and are really forgotten).
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  checkOptionNames(options, MEMORY_STORE_OPTION_NAMES, 'memoryStore');
  const now = options.now ?? Date.now;
  const counters = new ExpiringCounters();
  const rankings = new MemoryRankings();
  /** Leases by scope key, then lease id; `nextExpiryMs` is the earliest expiry among them. */
  const leases = new Map<string, { byId: Map<string, Lease>; nextExpiryMs: number }>();
  /** The last hand-backs added, by id, with the spend they moved: one retried is added once and reported again. */
  const appliedBatches = new Map<string, SpendMove[]>();
  /** Lease ids need only be unique in this store (one process): a count, not random bytes (a system call each). */
  let leasesGiven = 0;
  /**
   * The counters of a sliding window, one array per plan (per bucket), its buckets before
   * the current one read once: they change only when a counter of a past bucket moves — a
   * call reserved in an earlier bucket settles, a lease is reclaimed, counts are handed
   * back — and every such move counts in `pastBucketMoves`, which makes the copies stale.
   * The last entry, the current bucket, is read again on every read. The array is lent,
   * not given: a reader uses it before it awaits anything (61 numbers copied per request
   * were the store's largest garbage).
   */
  const pastBuckets = new WeakMap<WindowPlan, { values: number[]; moves: number }>();
  let pastBucketMoves = 0;
  /** Moves a counter that may belong to a past bucket. */
  const movePast = (windowKey: string, delta: number, nowMs: number) => {
    pastBucketMoves++;
    counters.moveExisting(windowKey, delta, nowMs);
  };

  /** Settles at its input every lease of `scope` that outlived its process (a scan only when one has). */
  const reclaimExpired = (scope: ScopeRequest, nowMs: number) => {
    const held = leases.get(scope.key);
    if (!held || held.nextExpiryMs > nowMs) return;
    held.nextExpiryMs = Infinity;
    for (const [id, lease] of held.byId) {
      if (lease.expiresAtMs > nowMs) {
        held.nextExpiryMs = Math.min(held.nextExpiryMs, lease.expiresAtMs);
        continue;
      }
      movePast(lease.windowKey, lease.input - lease.amount, nowMs);
      held.byId.delete(id);
      noteReclaimed(scope.key, id);
    }
    if (held.byId.size === 0) leases.delete(scope.key);
  };

  /** Leases taken for a dead process whose call has not settled (`scope key \n lease id`), oldest first. */
  const reclaimed = new Set<string>();
  /** The spend moves of the last settles of scopes that track spend, for a retried settle to report again. */
  const spendMoves = new Map<string, [number, number]>();
  const noteReclaimed = (scopeKey: string, leaseId: string) => {
    reclaimed.add(`${scopeKey}\n${leaseId}`);
    if (reclaimed.size > MAX_RECLAIMED) reclaimed.delete(reclaimed.values().next().value!);
  };

  /**
   * Ends the lease of `leaseId` on `scopeKey`: `'held'` while it was, `'reclaimed'` once it
   * was settled at its input, `'settled'` when a settle already ended it.
   */
  const endLease = (scopeKey: string, leaseId: string): 'held' | 'reclaimed' | 'settled' => {
    if (leaseId === '') return 'reclaimed';
    const held = leases.get(scopeKey);
    if (held?.byId.delete(leaseId)) {
      if (held.byId.size === 0) leases.delete(scopeKey);
      return 'held';
    }
    return reclaimed.delete(`${scopeKey}\n${leaseId}`) ? 'reclaimed' : 'settled';
  };

  let nextSlice: NodeJS.Immediate | undefined;
  const sweepInSlices = () => {
    nextSlice = undefined;
    counters.sweep(now(), SWEEP_SLICE);
    if (counters.hasExpired(now())) nextSlice = setImmediate(sweepInSlices).unref();
  };
  const timer = setInterval(() => {
    if (!nextSlice) sweepInSlices();
  }, options.sweepIntervalMs ?? 10_000).unref();

  /** The counters of `plan` at `nowMs`, in its keys' order. */
  const read = (plan: WindowPlan, nowMs: number): number[] => {
    const last = plan.keys.length - 1;
    if (last === 0) return [counters.get(plan.keys[0]!, nowMs) ?? 0];
    let past = pastBuckets.get(plan);
    if (past?.moves !== pastBucketMoves) {
      const values = plan.keys.map((key) => counters.get(key, nowMs) ?? 0);
      pastBuckets.set(plan, (past = { values, moves: pastBucketMoves }));
    } else {
      past.values[last] = counters.get(plan.keys[last]!, nowMs) ?? 0;
    }
    return past.values;
  };

  /** Whether `windowKey` is the counter a grant of `scope` adds to now (the current bucket or period). */
  const isCurrent = (scope: ScopeRequest, windowKey: string, nowMs: number) => {
    const { keys } = planWindow(scope, nowMs);
    return keys[keys.length - 1] === windowKey;
  };

  const settle = async (reservation: Reservation, actual: number | CallUsage): Promise<SettleReport> => {
    const usage = callUsageOf(
      actual,
      reservation.parts.map((part) => part.scope),
    );
    const nowMs = now();
    const spent: SpendMove[] = [];
    for (const part of reservation.parts) {
      const used = amountOf(part.scope, usage);
      assertTokenCount(used, 'the settled amount');
      const lease = endLease(part.scope.key, reservation.leaseId);
      const movedKey = `${part.scope.key}\n${reservation.leaseId}`;
      if (lease === 'settled') {
        // Settled already: a retry moves nothing and reports the move of the settle that landed.
        const moved = spendMoves.get(movedKey);
        if (moved) spent.push({ scope: part.scope, before: moved[0], after: moved[1] });
        continue;
      }
      const taken = lease === 'held' ? part.amount : inputAmountOf(part.scope, reservation.input);
      if (isCurrent(part.scope, part.windowKey, nowMs)) counters.moveExisting(part.windowKey, used - taken, nowMs);
      else movePast(part.windowKey, used - taken, nowMs);
      if (!part.scope.tracksSpend) continue;
      const move = counters.addAlongside(spentKeyOf(part.windowKey), used, part.windowKey, nowMs, part.scope.keepSpentMs);
      if (!move) continue;
      spent.push({ scope: part.scope, before: move[0], after: move[1] });
      if (reservation.leaseId === '') continue;
      spendMoves.set(movedKey, move);
      if (spendMoves.size > MAX_RECLAIMED) spendMoves.delete(spendMoves.keys().next().value!);
    }
    return { spent };
  };

  const store: MemoryStore = {
    async reserve(request: ReserveRequest): Promise<ReserveResult> {
      assertTokenCount(request.input, 'input');
      assertTokenCount(request.maxOutput, 'maxOutput');
      const nowMs = now();
      for (const scope of request.scopes) reclaimExpired(scope, nowMs);
      const plans = new Array<WindowPlan>(request.scopes.length);
      const values = new Array<number[]>(request.scopes.length);
      for (let i = 0; i < plans.length; i++) {
        plans[i] = planWindow(request.scopes[i]!, nowMs);
        values[i] = read(plans[i]!, nowMs);
      }
      let outputCap = request.maxOutput;
      // Index loops: an entries() iterator and an [i, item] pair per step are garbage made per request.
      for (let i = 0; i < request.scopes.length; i++) {
        const affordable = affordableOutput(request.scopes[i]!, sumOf(values[i]!), request.input);
        if (affordable < 1) return refusedResult(request, plans, values, nowMs, i);
        outputCap = Math.min(outputCap, affordable);
      }
      const amounts = request.scopes.map((scope) => reservedAmountOf(scope, request.input, outputCap));
      const leaseId = String(++leasesGiven);
      const expiresAtMs = nowMs + (request.leaseMs ?? DEFAULT_LEASE_MS);
      for (let i = 0; i < plans.length; i++) {
        const plan = plans[i]!;
        const last = plan.keys.length - 1;
        const windowKey = plan.keys[last]!;
        const amount = amounts[i]!;
        values[i]![last] = counters.add(windowKey, amount, plan.expiresAtMs, nowMs);
        const scope = request.scopes[i]!;
        const scopeKey = scope.key;
        let held = leases.get(scopeKey);
        if (!held) leases.set(scopeKey, (held = { byId: new Map(), nextExpiryMs: Infinity }));
        held.byId.set(leaseId, { windowKey, amount, input: inputAmountOf(scope, request.input), expiresAtMs });
        held.nextExpiryMs = Math.min(held.nextExpiryMs, expiresAtMs);
      }
      return grantedResult(request, plans, values, nowMs, outputCap, amounts, leaseId);
    },

    settle,

    release: (reservation: Reservation) => settle(reservation, 0),

    seed(scope: ScopeRequest, used: number): void {
      assertTokenCount(used, 'used');
      const nowMs = now();
      const plan = planWindow(scope, nowMs);
      const windowKey = plan.keys[plan.keys.length - 1]!;
      if (used > 0 && counters.get(windowKey, nowMs) === undefined) counters.add(windowKey, used, plan.expiresAtMs, nowMs);
    },

    counts(scope: ScopeRequest): boolean {
      const nowMs = now();
      const plan = planWindow(scope, nowMs);
      return counters.get(plan.keys[plan.keys.length - 1]!, nowMs) !== undefined;
    },

    reset(): void {
      pastBucketMoves++;
      counters.clear();
      leases.clear();
      reclaimed.clear();
      spendMoves.clear();
      appliedBatches.clear();
    },

    async add(counts: readonly CountedElsewhere[], batchId?: string): Promise<SettleReport> {
      const applied = batchId === undefined ? undefined : appliedBatches.get(batchId);
      if (applied) return { spent: applied };
      const spent: SpendMove[] = [];
      if (batchId !== undefined) {
        appliedBatches.set(batchId, spent);
        if (appliedBatches.size > 1000) appliedBatches.delete(appliedBatches.keys().next().value!);
      }
      const nowMs = now();
      pastBucketMoves++;
      for (const { scope, atMs, amount, spent: used = 0 } of counts) {
        const plan = planWindow(scope, atMs);
        if (plan.expiresAtMs <= nowMs) continue;
        const windowKey = plan.keys[plan.keys.length - 1]!;
        if (amount >= 0) counters.add(windowKey, amount, plan.expiresAtMs, nowMs);
        else counters.moveExisting(windowKey, amount, nowMs);
        if (!scope.tracksSpend || used <= 0) continue;
        const move = counters.addAlongside(spentKeyOf(windowKey), used, windowKey, nowMs, scope.keepSpentMs);
        if (move) spent.push({ scope, before: move[0], after: move[1] });
      }
      return { spent };
    },

    async spentAt(scope: ScopeRequest, atMs: readonly number[]): Promise<number[]> {
      const nowMs = now();
      return atMs.map((at) => {
        const plan = planWindow(scope, at);
        return counters.get(spentKeyOf(plan.keys[plan.keys.length - 1]!), nowMs) ?? 0;
      });
    },

    now,

    async rank(increments: readonly RankIncrement[]): Promise<void> {
      rankings.add(increments, now());
    },

    async ranked(key: string, limit: number): Promise<RankedMember[]> {
      return rankings.top(key, limit, now());
    },

    async usage(scope: ScopeRequest): Promise<ScopeState> {
      const nowMs = now();
      const plan = planWindow(scope, nowMs);
      return scopeState(scope, plan, read(plan, nowMs), nowMs);
    },

    sweep: () => counters.sweep(now()),

    get size() {
      return counters.size;
    },

    async close(): Promise<void> {
      clearInterval(timer);
      if (nextSlice) clearImmediate(nextSlice);
      nextSlice = undefined;
      pastBucketMoves++;
      counters.clear();
      leases.clear();
      rankings.clear();
    },
  };
  memoryStores.add(store);
  return store;
}

/** Whether `store` was made by `memoryStore()`. */
export const isMemoryStore = (store: unknown): boolean => memoryStores.has(store as MemoryStore);
