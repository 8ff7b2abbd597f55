// resilientStore: applies each scope's onUnavailable policy while the primary store cannot be reached.
import { memoryStore } from './memory';
import { errorReporter } from './report';
import type { ReserveRequest, ReserveResult, Reservation, ReservedPart, ScopeRequest, ScopeState, Store } from './types';
import { StoreUnavailableError } from './unavailable';

export interface ResilientStoreOptions {
  /** Where 'fallback' scopes are counted while the primary is unreachable. Default `memoryStore()`. */
  fallback?: Store;
  /** After a failure, how long the primary is left alone before one call probes it again, ms. Default 1000. */
  cooldownMs?: number;
  /**
   * Told when the primary becomes unreachable (once per outage) and when a settle
   * or release fails (each time: those are never thrown to the request).
   * Default: one `console.warn`.
   */
  onError?: (err: Error) => void;
}

const SKIPPED = Symbol('primary skipped');

/**
 * Wraps a store so that an outage costs one deadline per `cooldownMs`, not one per
 * request. While the primary is unreachable, a request with any 'fail-closed'
 * scope throws StoreUnavailableError; otherwise its 'fallback' scopes are counted
 * in the fallback store with the same limits and its 'fail-open' scopes are not
 * counted. What the fallback counted is not carried over when the primary returns.
 */
export function resilientStore(primary: Store, options: ResilientStoreOptions = {}): Store {
  const fallback = options.fallback ?? memoryStore();
  const cooldownMs = options.cooldownMs ?? 1000;
  const onError = errorReporter(options.onError);

  /** 0 while the primary is healthy; otherwise when it may be probed again. */
  let retryAtMs = 0;
  let probing = false;
  let lastFailure: StoreUnavailableError | undefined;

  const noteFailure = (err: StoreUnavailableError) => {
    const firstOfOutage = retryAtMs === 0;
    lastFailure = err;
    retryAtMs = Date.now() + cooldownMs;
    if (firstOfOutage) onError(err);
  };

  /** Calls the primary unless it is cooling down or another call is probing it. */
  const viaPrimary = async <T>(call: () => Promise<T>): Promise<T | typeof SKIPPED> => {
    const probe = retryAtMs !== 0;
    if (probe && (probing || Date.now() < retryAtMs)) return SKIPPED;
    if (probe) probing = true;
    try {
      const value = await call();
      retryAtMs = 0;
      return value;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      noteFailure(err);
      return SKIPPED;
    } finally {
      if (probe) probing = false;
    }
  };

  const unavailable = (scope: ScopeRequest) =>
    new StoreUnavailableError(`The budget store is unreachable and scope ${scope.key} fails closed`, { cause: lastFailure });

  /** What a fail-open scope looks like while nothing counts it. */
  const uncounted = (scope: ScopeRequest): ScopeState => ({
    kind: scope.kind,
    key: scope.key,
    limit: scope.limit,
    used: 0,
    remaining: scope.limit,
    resetAtMs: Date.now(),
  });

  const reserveWithoutPrimary = async (request: ReserveRequest): Promise<ReserveResult> => {
    const closed = request.scopes.find((scope) => scope.onUnavailable === 'fail-closed');
    if (closed) throw unavailable(closed);
    const counted = request.scopes.filter((scope) => scope.onUnavailable === 'fallback');
    const result = await fallback.reserve({ ...request, scopes: counted });
    const countedStates = new Map(counted.map((scope, i) => [scope, result.scopes[i]!]));
    const scopes = request.scopes.map((scope) => countedStates.get(scope) ?? uncounted(scope));
    if (!result.ok) return { ok: false, refused: result.refused, scopes };
    for (const part of result.reservation.parts) part.fallback = true;
    return { ok: true, reservation: result.reservation, scopes };
  };

  /** Settles the parts one store took; a failure is reported, never thrown. */
  const settleIn = async (store: Store, reservation: Reservation, parts: ReservedPart[], actualTokens: number) => {
    if (parts.length === 0) return;
    try {
      await store.settle({ ...reservation, parts }, actualTokens);
    } catch (err) {
      if (store === primary && err instanceof StoreUnavailableError) noteFailure(err);
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  };

  const settle = async (reservation: Reservation, actualTokens: number): Promise<void> => {
    // Tried even while cooling down: only the primary can give back what it holds.
    await Promise.all([
      settleIn(primary, reservation, reservation.parts.filter((part) => !part.fallback), actualTokens),
      settleIn(fallback, reservation, reservation.parts.filter((part) => part.fallback), actualTokens),
    ]);
  };

  return {
    async reserve(request: ReserveRequest): Promise<ReserveResult> {
      const result = await viaPrimary(() => primary.reserve(request));
      return result === SKIPPED ? reserveWithoutPrimary(request) : result;
    },

    settle,

    release: (reservation: Reservation) => settle(reservation, 0),

    async usage(scope: ScopeRequest): Promise<ScopeState> {
      const state = await viaPrimary(() => primary.usage(scope));
      if (state !== SKIPPED) return state;
      if (scope.onUnavailable === 'fail-closed') throw unavailable(scope);
      return scope.onUnavailable === 'fallback' ? fallback.usage(scope) : uncounted(scope);
    },

    async close(): Promise<void> {
      await Promise.all([primary.close?.(), fallback.close?.()]);
    },
  };
}
