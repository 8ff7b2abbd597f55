// resilientStore: applies each scope's onUnavailable policy while the primary store cannot be reached.
import { amountOf, callUsageOf } from './amounts';
import { newLeaseId } from './leases';
import { type MemoryStore, memoryStore } from './memory';
import { errorReporter } from './report';
import type {
  CallUsage,
  CountedElsewhere,
  ReserveRequest,
  ReserveResult,
  Reservation,
  ReservedPart,
  ScopeRequest,
  ScopeState,
  SettleReport,
  Store,
} from './types';
import { StoreUnavailableError } from './unavailable';

export interface ResilientStoreOptions {
  /** Where 'fallback' scopes are counted while the primary is unreachable. Default `memoryStore()` on the primary's clock. */
  fallback?: MemoryStore;
  /** Scopes whose last state from the primary is remembered for a fallback to start from. Default 100,000. */
  rememberScopes?: number;
  /** Settlements kept while the primary cannot take them; past it the oldest is dropped (its lease settles it). Default 100,000. */
  maxUnsettled?: number;
  /**
   * How often this process tells the primary it is alive (`Store.heartbeat`), ms: the
   * number of live processes decides each one's share of a budget during an outage, so
   * a process started with others must hear of them before an outage can begin. Default
   * 1000. A process counts for 15 s after its last heartbeat (or 3 heartbeats, if longer):
   * one that stopped shrinks the others' shares for a while, which errs on the safe side.
   */
  heartbeatMs?: number;
  /**
   * The oldest word of the primary on a scope a fallback starts from, ms: the fleet may
   * have spent since, so an older one is not trusted and the scope is refused (a quota
   * period) or started from its share of the limit (a sliding window). Default 60,000.
   */
  viewMaxAgeMs?: number;
  /** After a failure, how long the primary is left alone before one call probes it again, ms. Default 1000. */
  cooldownMs?: number;
  /**
   * After the primary is back, how long this process still spends no more than its
   * outage share of each scope it holds a share of, ms: the others hand back what they
   * counted at their next probe, and until then the primary's figures miss it. Default
   * 3 × `cooldownMs`.
   */
  recoveryMs?: number;
  /**
   * Told when the primary becomes unreachable (once per outage) and when a settle
   * or release fails (each time: those are never thrown to the request).
   * Default: one `console.warn`.
   */
  onError?: (err: Error) => void;
}

const SKIPPED = Symbol('primary skipped');

/** How long a scope's word stays true at most: a sliding window's span, a fixed window's whole period. */
function windowSpanMs(scope: ScopeRequest): number {
  return scope.window.kind === 'sliding' ? scope.window.windowMs : Infinity;
}

/**
 * Wraps a store so that an outage costs one deadline per `cooldownMs`, not one per
 * request. While the primary is unreachable, a request with any 'fail-closed'
 * scope throws StoreUnavailableError; otherwise its 'fallback' scopes are counted
 * in the fallback store with the same limits, starting from what the primary last
 * said the scope had used (never from a fresh quota), and its 'fail-open' scopes are
 * not counted. What the fallback counted is added to the primary when it is back.
 */
export function resilientStore(primary: Store, options: ResilientStoreOptions = {}): Store {
  /** The primary's clock: the fallback counts in the same windows, and hands them back by it. */
  const storeNow = () => primary.now?.() ?? Date.now();
  const fallback = options.fallback ?? memoryStore({ now: storeNow });
  const cooldownMs = options.cooldownMs ?? 1000;
  const recoveryMs = options.recoveryMs ?? 3 * cooldownMs;
  const rememberScopes = options.rememberScopes ?? 100_000;
  const maxUnsettled = options.maxUnsettled ?? 100_000;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const liveForMs = Math.max(15_000, heartbeatMs * 3);
  const viewMaxAgeMs = options.viewMaxAgeMs ?? 60_000;
  const onError = errorReporter(options.onError);

  /** The primary's last word on each scope, oldest first, so the oldest is forgotten first. */
  const lastSeen = new Map<string, { state: ScopeState; atMs: number }>();
  const remember = (states: readonly ScopeState[]) => {
    const atMs = storeNow();
    for (const state of states) {
      lastSeen.delete(state.key);
      lastSeen.set(state.key, { state, atMs });
      if (lastSeen.size > rememberScopes) lastSeen.delete(lastSeen.keys().next().value!);
    }
  };
  const settleLastSeen = (scopeKey: string, delta: number) => {
    const seen = lastSeen.get(scopeKey);
    if (seen) seen.state = { ...seen.state, used: Math.max(0, seen.state.used + delta) };
  };
  /**
   * How many processes share the primary, as its heartbeat said last (this one
   * included; a process that stopped counts until its heartbeat expires, which errs on
   * the safe side). Undefined until the primary has answered one: a process that never
   * heard how many it shares with cannot know its share.
   */
  let fleetSize: number | undefined = primary.heartbeat ? undefined : 1;
  const processId = newLeaseId();
  const beat = async () => {
    try {
      fleetSize = Math.max(1, await primary.heartbeat!(processId, liveForMs));
    } catch {
      // The outage is told by the calls that need the store; a heartbeat keeps the last size.
    }
  };
  let heartbeat: NodeJS.Timeout | undefined;
  if (primary.heartbeat) {
    void beat();
    heartbeat = setInterval(() => void beat(), heartbeatMs).unref();
  }

  /**
   * Starts the fallback's count of `scope` at this process's share of what the primary
   * last said was left — `remaining / processes` — so that the fleet as a whole never
   * spends more than was left, and says whether the fallback may count it at all. A
   * fixed window (a quota period) this process has not seen the primary count lately
   * is unknown: a fresh quota would let every process spend it again. A sliding window
   * starts from its share of the limit when its last word is older than the window.
   */
  const startFromLastSeen = (scope: ScopeRequest): boolean => {
    // A sliding window's counter is its newest bucket: its share is seeded once an outage, not once a bucket.
    if (fallback.counts(scope) || seededInOutage.has(scope.key)) return true;
    if (fleetSize === undefined) return false;
    const seen = lastSeen.get(scope.key);
    const nowMs = storeNow();
    const recent = seen !== undefined && nowMs - seen.atMs < Math.min(viewMaxAgeMs, windowSpanMs(scope));
    if (scope.window.kind === 'fixed' && (!recent || nowMs >= seen.state.resetAtMs)) return false;
    const used = recent ? seen.state.used : 0;
    const share = Math.floor(Math.max(0, scope.limit - used) / fleetSize);
    fallback.seed(scope, scope.limit - share);
    if (scope.window.kind === 'sliding') seededInOutage.add(scope.key);
    return true;
  };
  /** Sliding windows seeded since the fallback was last emptied. */
  const seededInOutage = new Set<string>();

  /** Told the settled spend that reaches the primary outside a request: a retried settle, a hand-back. */
  const lateSpendListeners: ((report: SettleReport) => void)[] = [];
  const tellLateSpend = (report: SettleReport) => {
    if (report.spent.length === 0) return;
    for (const listener of lateSpendListeners) {
      try {
        listener(report);
      } catch (err) {
        onError(err instanceof Error ? err : new Error(String(err)));
      }
    }
  };

  /**
   * Settlements the primary could not be sent or did not confirm (it died or stalled
   * under them), oldest first: written, before anything else, when it is back. A
   * settle that had landed moves nothing the second time (the Store contract).
   */
  const unsettled: { reservation: Reservation; usage: CallUsage }[] = [];
  const keepUnsettled = (reservation: Reservation, usage: CallUsage) => {
    unsettled.push({ reservation, usage });
    if (unsettled.length > maxUnsettled) {
      const lost = unsettled.shift()!;
      onError(
        new StoreUnavailableError(
          `More than ${maxUnsettled} settlements waited for the budget store; the oldest (lease ${lost.reservation.leaseId}) is dropped and its lease settles it at its input`,
        ),
      );
    }
  };

  /** What the fallback counted, by its window counter, until the primary takes it back. */
  const countedInFallback = new Map<string, CountedElsewhere>();
  const noteFallbackCount = (windowKey: string, scope: ScopeRequest, amount: number, spent: number) => {
    const counted = countedInFallback.get(windowKey);
    if (counted) {
      counted.amount += amount;
      counted.spent! += spent;
    } else countedInFallback.set(windowKey, { scope, atMs: storeNow(), amount, spent });
  };
  /** A hand-back the primary may or may not have applied (its reply was lost): retried under its id, so it lands once. */
  let unconfirmed: { id: string; counts: CountedElsewhere[] } | undefined;
  /** Whether anything waits to be written to the primary (a primary that cannot `add` never gets the fallback's counts). */
  const handBackPending = () =>
    unsettled.length > 0 || (primary.add !== undefined && (unconfirmed !== undefined || countedInFallback.size > 0));
  let handing: Promise<void> | undefined;
  const handBackAll = async (): Promise<void> => {
    while (unsettled.length > 0) {
      const { reservation, usage } = unsettled[0]!;
      const report = await primary.settle(reservation, usage);
      unsettled.shift();
      for (const part of reservation.parts) settleLastSeen(part.scope.key, amountOf(part.scope, usage) - part.amount);
      tellLateSpend(report);
    }
    if (!primary.add) return;
    while (unconfirmed || countedInFallback.size > 0) {
      if (!unconfirmed) {
        unconfirmed = { id: newLeaseId(), counts: [...countedInFallback.values()] };
        countedInFallback.clear();
      }
      tellLateSpend(await primary.add(unconfirmed.counts, unconfirmed.id));
      unconfirmed = undefined;
    }
  };
  /**
   * Writes what the primary missed before it is used again — settlements it did not
   * confirm, then what the fallback counted — so that the first reservations after an
   * outage see it; one hand-back at a time. Rejects (StoreUnavailableError) while the
   * primary cannot take it.
   */
  const handBack = (): Promise<void> => {
    if (!handBackPending()) return Promise.resolve();
    handing ??= handBackAll().finally(() => {
      handing = undefined;
    });
    return handing;
  };

  /** 0 while the primary is healthy; otherwise when it may be probed again. */
  let retryAtMs = 0;
  /** 0 unless the primary came back lately: until then the outage shares still bound this process. */
  let recoveringUntilMs = 0;
  /** Whether the outage shares still bound this process; empties the fallback once they no longer do. */
  const recovering = (): boolean => {
    if (recoveringUntilMs === 0) return false;
    if (Date.now() < recoveringUntilMs || handBackPending()) return true;
    // The others have had their time to hand back: the next outage starts again from the primary's word.
    recoveringUntilMs = 0;
    fallback.reset();
    seededInOutage.clear();
    sharesHeld.clear();
    return false;
  };
  /** What a grant made during a recovery holds of this process's outage share, by the primary's lease id. */
  const sharesHeld = new Map<string, Reservation>();
  /** Settled when the probe under way has its answer. */
  let probing: Promise<void> | undefined;
  let lastFailure: StoreUnavailableError | undefined;

  const noteFailure = (err: StoreUnavailableError) => {
    const firstOfOutage = retryAtMs === 0;
    lastFailure = err;
    retryAtMs = Date.now() + cooldownMs;
    if (firstOfOutage) onError(err);
    recovery ??= setInterval(recoverIdle, cooldownMs).unref();
  };
  /**
   * Hands back what a process that has gone quiet still holds: without requests it
   * would never probe the primary, and what it counted would never reach the others.
   */
  let recovery: NodeJS.Timeout | undefined;
  const recoverIdle = () => {
    // Only what the hand-back writes to the primary: a probe that sends nothing proves nothing.
    const pending = handBackPending();
    if (!pending && retryAtMs === 0) {
      clearInterval(recovery);
      recovery = undefined;
    } else if (pending && Date.now() >= retryAtMs && !probing && !handing) {
      // The hand-back is the probe: its success is the primary's answer.
      void viaPrimary(() => Promise.resolve());
    }
  };

  /** Calls the primary unless it is cooling down or another call is probing it. */
  const viaPrimary = async <T>(call: () => Promise<T>): Promise<T | typeof SKIPPED> => {
    const probe = retryAtMs !== 0;
    // Calls that come while the primary is probed wait for its verdict (at most one deadline): counted
    // in the fallback meanwhile, they would reach the primary only after the probe's own reservation.
    if (probe && probing) {
      await probing;
      return viaPrimary(call);
    }
    if (probe && Date.now() < retryAtMs) return SKIPPED;
    let probed: (() => void) | undefined;
    if (probe) probing = new Promise<void>((resolve) => (probed = resolve));
    try {
      await handBack();
      const value = await call();
      if (probe) recoveringUntilMs = Date.now() + recoveryMs;
      retryAtMs = 0;
      return value;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      noteFailure(err);
      return SKIPPED;
    } finally {
      if (probed) {
        probing = undefined;
        probed();
      }
    }
  };

  const unavailable = (scope: ScopeRequest) =>
    new StoreUnavailableError(`The budget store is unreachable and scope ${scope.key} fails closed`, { cause: lastFailure });

  const unseen = (scope: ScopeRequest) =>
    new StoreUnavailableError(
      `The budget store is unreachable and this process has not seen scope ${scope.key} lately (or does not know how many processes share it)`,
      { cause: lastFailure },
    );

  /** What a fail-open scope looks like while nothing counts it. */
  const uncounted = (scope: ScopeRequest): ScopeState => ({
    kind: scope.kind,
    ...(scope.name === undefined ? {} : { name: scope.name }),
    key: scope.key,
    limit: scope.limit,
    used: 0,
    remaining: scope.limit,
    resetAtMs: storeNow(),
  });

  const reserveWithoutPrimary = async (request: ReserveRequest): Promise<ReserveResult> => {
    const closed = request.scopes.find((scope) => scope.onUnavailable === 'fail-closed');
    if (closed) throw unavailable(closed);
    const counted = request.scopes.filter((scope) => scope.onUnavailable === 'fallback');
    const unknown = counted.find((scope) => !startFromLastSeen(scope));
    if (unknown) throw unseen(unknown);
    const result = await fallback.reserve({ ...request, scopes: counted });
    const countedStates = new Map(counted.map((scope, i) => [scope, result.scopes[i]!]));
    const scopes = request.scopes.map((scope) => countedStates.get(scope) ?? uncounted(scope));
    if (!result.ok) return { ok: false, refused: result.refused, scopes };
    for (const part of result.reservation.parts) {
      part.fallback = true;
      noteFallbackCount(part.windowKey, part.scope, part.amount, 0);
    }
    return { ok: true, reservation: result.reservation, scopes };
  };

  /**
   * Settles the parts one store took; a failure is reported, never thrown, and a
   * settlement the primary did not confirm is kept to be written when it is back. The
   * fallback's spend is reported when it is handed back, on the primary's counters:
   * the fallback's own start from zero and would alert thresholds again.
   */
  const settleIn = async (
    store: Store,
    reservation: Reservation,
    parts: ReservedPart[],
    usage: CallUsage,
  ): Promise<SettleReport> => {
    if (parts.length === 0) return { spent: [] };
    try {
      const report = await store.settle({ ...reservation, parts }, usage);
      for (const part of parts) {
        const used = amountOf(part.scope, usage);
        if (store === fallback)
          noteFallbackCount(part.windowKey, part.scope, used - part.amount, part.scope.tracksSpend ? used : 0);
        else settleLastSeen(part.scope.key, used - part.amount);
      }
      return store === fallback ? { spent: [] } : report;
    } catch (err) {
      if (store === primary && err instanceof StoreUnavailableError) {
        noteFailure(err);
        keepUnsettled({ ...reservation, parts }, usage);
      }
      onError(err instanceof Error ? err : new Error(String(err)));
      return { spent: [] };
    }
  };

  const settle = async (reservation: Reservation, actual: number | CallUsage): Promise<SettleReport> => {
    const usage = callUsageOf(
      actual,
      reservation.parts.map((part) => part.scope),
    );
    // A grant of the recovery frees what its share held beyond what it used (never handed back: the primary has it).
    const share = sharesHeld.get(reservation.leaseId);
    if (share) {
      sharesHeld.delete(reservation.leaseId);
      await fallback.settle(share, usage);
    }
    // Tried even while cooling down: only the primary can give back what it holds.
    const reports = await Promise.all([
      settleIn(
        primary,
        reservation,
        reservation.parts.filter((part) => !part.fallback),
        usage,
      ),
      settleIn(
        fallback,
        reservation,
        reservation.parts.filter((part) => part.fallback),
        usage,
      ),
    ]);
    return { spent: reports.flatMap((report) => report.spent) };
  };

  /** A grant's scope states as they were before it: its own parts taken off. */
  const beforeGrant = (granted: ReserveResult & { ok: true }): ScopeState[] =>
    granted.scopes.map((state) => {
      const part = granted.reservation.parts.find((reserved) => reserved.scope.key === state.key);
      return part ? { ...state, used: state.used - part.amount, remaining: state.remaining + part.amount } : state;
    });

  /**
   * Holds a grant of the primary, made while the others may still hold counts it has
   * not been given, to this process's outage share: what it holds there is settled with
   * the grant, never handed back (the primary has it), and dropped once the recovery is over.
   */
  const withinOutageShare = async (request: ReserveRequest, granted: ReserveResult & { ok: true }): Promise<ReserveResult> => {
    const shared = request.scopes.filter((scope) => scope.onUnavailable === 'fallback' && startFromLastSeen(scope));
    if (shared.length === 0) return granted;
    const gate = await fallback.reserve({ ...request, scopes: shared, maxOutput: granted.reservation.outputCap });
    if (gate.ok) {
      sharesHeld.set(granted.reservation.leaseId, gate.reservation);
      return { ...granted, reservation: { ...granted.reservation, outputCap: gate.reservation.outputCap } };
    }
    await settle(granted.reservation, 0);
    const gateStates = new Map(shared.map((scope, i) => [scope.key, gate.scopes[i]!]));
    return { ok: false, refused: gate.refused, scopes: granted.scopes.map((state) => gateStates.get(state.key) ?? state) };
  };

  return {
    async reserve(request: ReserveRequest): Promise<ReserveResult> {
      const result = await viaPrimary(() => primary.reserve(request));
      if (result === SKIPPED) return reserveWithoutPrimary(request);
      // The first heartbeat failed (a client still connecting): the primary answers now.
      if (fleetSize === undefined) void beat();
      if (!result.ok || !recovering()) {
        remember(result.scopes);
        return result;
      }
      // Seen during a recovery, a scope's figures miss what the others have not handed back yet; a share of them
      // still keeps the fleet within the limit, since they are never below what was used before the outage.
      // The share is of what was left before this request, which it then reserves: counted once, not twice.
      remember(beforeGrant(result));
      const held = await withinOutageShare(request, result);
      if (held.ok) remember(result.scopes);
      return held;
    },

    settle,

    release: (reservation: Reservation) => settle(reservation, 0),

    now: storeNow,

    // Only over a primary that reads past spend: the fallback's alone (an outage's counts) would make a spike of any hour.
    ...(primary.spentAt && {
      async spentAt(scope: ScopeRequest, atMs: readonly number[]): Promise<number[]> {
        const spent = await viaPrimary(() => primary.spentAt!(scope, atMs));
        return spent === SKIPPED ? fallback.spentAt(scope, atMs) : spent;
      },
    }),

    async usage(scope: ScopeRequest): Promise<ScopeState> {
      const state = await viaPrimary(() => primary.usage(scope));
      if (state !== SKIPPED) {
        // Ends a recovery whose time is up, so that what is read next is the primary's alone.
        recovering();
        remember([state]);
        return state;
      }
      if (scope.onUnavailable === 'fail-closed') throw unavailable(scope);
      if (scope.onUnavailable === 'fail-open') return uncounted(scope);
      // A quota period the fallback cannot count is unknown, not untouched: it would read as all left.
      if (!startFromLastSeen(scope)) throw unseen(scope);
      return fallback.usage(scope);
    },

    onLateSpend(listener: (report: SettleReport) => void): void {
      lateSpendListeners.push(listener);
    },

    async close(): Promise<void> {
      clearInterval(heartbeat);
      clearInterval(recovery);
      await Promise.all([primary.close?.(), fallback.close?.()]);
    },
  };
}
