// memoryStore: the embedded store for one process, with the same semantics as the Redis store.
import { ExpiringCounters } from './expiring-counters';
import type { ReserveRequest, ReserveResult, Reservation, ScopeRequest, ScopeState, Store } from './types';
import { assertTokenCount, grantedResult, planWindow, refusedResult, scopeState, sumOf } from './windows';

export interface MemoryStoreOptions {
  /** The store's clock, epoch ms. Default `Date.now`; tests inject their own. */
  now?: () => number;
  /** How often expired windows are swept, ms. Default 10,000. */
  sweepIntervalMs?: number;
}

export interface MemoryStore extends Store {
  /** Forgets every expired window now (a timer also does it every `sweepIntervalMs`); returns how many. */
  sweep(): number;
  /** Window counters held, including expired ones not yet swept. */
  readonly size: number;
  close(): Promise<void>;
}

/** Keys looked at per turn of the event loop when the timer sweeps, so a midnight with 1M expiring users never blocks. */
const SWEEP_SLICE = 10_000;

/**
 * Budgets counted in this process's memory: correct for one process, lost on
 * restart. Windows are the same as Redis's (calendar periods, sliding buckets,
 * counters that expire and are really forgotten).
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const now = options.now ?? Date.now;
  const counters = new ExpiringCounters();

  let nextSlice: NodeJS.Immediate | undefined;
  const sweepInSlices = () => {
    nextSlice = undefined;
    counters.sweep(now(), SWEEP_SLICE);
    if (counters.hasExpired(now())) nextSlice = setImmediate(sweepInSlices).unref();
  };
  const timer = setInterval(() => {
    if (!nextSlice) sweepInSlices();
  }, options.sweepIntervalMs ?? 10_000).unref();

  const read = (scope: ScopeRequest, nowMs: number) => {
    const plan = planWindow(scope, nowMs);
    return { plan, values: plan.keys.map((key) => counters.get(key, nowMs) ?? 0) };
  };

  const settle = async (reservation: Reservation, actualTokens: number): Promise<void> => {
    assertTokenCount(actualTokens, 'actualTokens');
    const nowMs = now();
    for (const part of reservation.parts) counters.moveExisting(part.windowKey, actualTokens - part.amount, nowMs);
  };

  return {
    async reserve(request: ReserveRequest): Promise<ReserveResult> {
      assertTokenCount(request.input, 'input');
      assertTokenCount(request.maxOutput, 'maxOutput');
      const nowMs = now();
      const reads = request.scopes.map((scope) => read(scope, nowMs));
      const plans = reads.map((r) => r.plan);
      const values = reads.map((r) => r.values);
      let outputCap = request.maxOutput;
      for (const [i, scope] of request.scopes.entries()) {
        const affordable = scope.limit - sumOf(values[i]!) - request.input;
        if (affordable < 1) return refusedResult(request, plans, values, nowMs, i);
        outputCap = Math.min(outputCap, affordable);
      }
      const amount = request.input + outputCap;
      for (const [i, plan] of plans.entries()) {
        const last = plan.keys.length - 1;
        values[i]![last] = counters.add(plan.keys[last]!, amount, plan.expiresAtMs, nowMs);
      }
      return grantedResult(request, plans, values, nowMs, outputCap, plans.map(() => amount));
    },

    settle,

    release: (reservation: Reservation) => settle(reservation, 0),

    async usage(scope: ScopeRequest): Promise<ScopeState> {
      const nowMs = now();
      const { plan, values } = read(scope, nowMs);
      return scopeState(scope, plan, values, nowMs);
    },

    sweep: () => counters.sweep(now()),

    get size() {
      return counters.size;
    },

    async close(): Promise<void> {
      clearInterval(timer);
      if (nextSlice) clearImmediate(nextSlice);
      nextSlice = undefined;
      counters.clear();
    },
  };
}
