// The Store contract: atomic all-scope reservations, settlement and read-only usage.

/**
 * Which budget a scope is; decides the error a refusal becomes. `user` is the quota
 * named `user`; `quota` is any other named quota (team, organisation, API key, …);
 * `spend` counts money (a costMeter's windows).
 */
export type ScopeKind = 'feature' | 'user' | 'global' | 'quota' | 'spend';

/** A calendar period (day, hour, week, month in a time zone) that contains an instant. */
export interface Period {
  /** Stable name of the period, part of its key (e.g. `2026-11-28`). */
  id: string;
  startMs: number;
  endMs: number;
}

/** A fixed window: the calendar period that contains the store's current time. */
export interface FixedWindow {
  kind: 'fixed';
  /** Computes the period containing `nowMs`; the store calls it with its own clock. */
  periodAt(nowMs: number): Period;
}

/**
 * A sliding window of `windowMs`, kept as buckets of `bucketMs`. Usage is the sum
 * of the buckets that overlap the last `windowMs` (one bucket more than the window
 * holds), so that no interval of `windowMs` ever admits more than the limit.
 */
export interface SlidingWindow {
  kind: 'sliding';
  windowMs: number;
  bucketMs: number;
}

/**
 * What to do with a scope while its store cannot be reached: refuse the request
 * (503 `budget_unavailable`), admit it without counting this scope, or count it in
 * this process's memory with the same limit until the store is back.
 */
export type UnavailablePolicy = 'fail-closed' | 'fail-open' | 'fallback';

/** One budget a request must fit in. */
export interface ScopeRequest {
  kind: ScopeKind;
  /** The quota's name (`user`, `team`, …): shown in RateLimit headers and `error.scope`. */
  name?: string;
  /** A global scope's figures are the whole service's: the RateLimit headers show them only when this is set. */
  inHeaders?: boolean;
  /** Used by `resilientStore`; the plain stores ignore it. */
  onUnavailable: UnavailablePolicy;
  /**
   * The scope's key without the store prefix and without the window suffix, already
   * made safe by `keys.ts` (e.g. `f:{chat}`, `u:{u=alice}:d`, `g:{tpm}`). The part in
   * braces is the Redis Cluster hash tag: every key of one scope lives in one slot.
   */
  key: string;
  /** Tokens (money scopes: nano-USD) the scope admits per window; a positive integer. */
  limit: number;
  window: FixedWindow | SlidingWindow;
  /**
   * Makes this a money scope: what one token costs in nano-USD (prompt tokens, the
   * cached ones among them, output tokens). Every amount of the scope is then money,
   * rounded up to whole nano-USD, and the output cap granted is what its money can pay for.
   * @default undefined — the scope counts tokens
   */
  weights?: TokenWeights;
  /**
   * Also keeps the window's settled amount — what calls really used, reservations
   * excluded — in a second counter, reported by `settle` before and after each call.
   */
  tracksSpend?: boolean;
  /**
   * How much longer than its window's counter the settled counter is kept, for
   * `spentAt` to read past windows (a spike baseline).
   * @default 0
   */
  keepSpentMs?: number;
}

/** Nano-USD per token of a money scope. */
export interface TokenWeights {
  input: number;
  cachedInput: number;
  output: number;
}

/** What a call used, split the way prices need it: `cachedInput` is part of `input`. */
export interface CallUsage {
  input: number;
  cachedInput: number;
  output: number;
}

/** A scope's settled amount before and after one settlement (scopes that track spend). */
export interface SpendMove {
  scope: ScopeRequest;
  before: number;
  after: number;
}

/** What a settlement reports. */
export interface SettleReport {
  spent: SpendMove[];
}

/** What a scope looks like at the moment of a reservation or a usage read. */
export interface ScopeState {
  kind: ScopeKind;
  /** The request's `name`, copied by the store. */
  name?: string;
  key: string;
  limit: number;
  /** Tokens counted in the current window, reservations included. */
  used: number;
  /** `max(0, limit - used)`. */
  remaining: number;
  /** When the window ends (fixed) or enough of it expires to admit more (sliding), epoch ms. */
  resetAtMs: number;
}

export interface ReserveRequest {
  scopes: ScopeRequest[];
  /** Counted input tokens: every scope must afford them plus at least one output token. */
  input: number;
  /** The most output tokens wanted; each scope grants what it can afford, up to this. */
  maxOutput: number;
  /**
   * How long the reservation may stay unsettled, in ms of the store's clock: past it,
   * the next reservation touching a scope takes it for a call whose process died and
   * settles it at `input` (the prompt was probably billed; the output part is given
   * back). Default `DEFAULT_LEASE_MS`.
   */
  leaseMs?: number;
}

/** An 11-minute lease: the openai SDK's 10-minute time-out plus a margin. */
export const DEFAULT_LEASE_MS = 11 * 60_000;

/** One window counter a reservation moved, kept so settle/release move the same one. */
export interface ReservedPart {
  scope: ScopeRequest;
  /** Full store key of the window counter (prefix and window suffix included). */
  windowKey: string;
  /** Tokens added to that counter. */
  amount: number;
  /** Set by `resilientStore` on parts its fallback store counted; copies of a part keep it. */
  fallback?: true;
}

export interface Reservation {
  parts: ReservedPart[];
  /**
   * Names the lease kept beside every part's counter until the reservation is settled.
   * Empty: the reservation holds no lease, and a settle adds what was used minus `input`
   * (how usage billed after a reservation was given back is still counted).
   */
  leaseId: string;
  input: number;
  /** Output tokens granted: the smallest of `maxOutput` and what every scope afforded. */
  outputCap: number;
}

/** Tokens a scope used in its window at `atMs`, counted outside this store. */
export interface CountedElsewhere {
  scope: ScopeRequest;
  atMs: number;
  amount: number;
  /**
   * Of a scope that tracks spend: what settled calls used there, added to the window's
   * settled counter as a settle would.
   * @default 0
   */
  spent?: number;
}

/** One increment of a ranking: `member`'s score in ranking `key` grows by `amount`. */
export interface RankIncrement {
  /** The ranking's key without the store prefix; keys written together share their `{hash tag}`. */
  key: string;
  member: string;
  /** A positive integer. */
  amount: number;
  /** Lifetime of the ranking from its creation, ms of the store's clock; never pushed forward by later increments. */
  ttlMs: number;
}

/** A member of a ranking and its score. */
export interface RankedMember {
  member: string;
  score: number;
}

export type ReserveResult =
  { ok: true; reservation: Reservation; scopes: ScopeState[] } | { ok: false; refused: ScopeState; scopes: ScopeState[] };

/** A flag change as every process hears it. */
export interface FlagChange {
  name: string;
  on: boolean;
}

/**
 * Where flags are kept for every process: a store shared by many processes
 * provides one (`redisStore`); with a store that has none (`memoryStore`), flags
 * live in each process alone.
 */
export interface FlagChannel {
  /** Every flag that has been set. Rejects when the store cannot answer. */
  readAll(): Promise<Map<string, boolean>>;
  /**
   * Stores one flag and announces the change to every listening process, atomically —
   * or, once `withinMs` have passed (on the store's clock), does nothing and rejects: the
   * caller stops waiting then, and a write it was told failed must never land later.
   */
  write(change: FlagChange, withinMs: number): Promise<void>;
  /**
   * Calls `onChange` for every change any process writes from now on, until the
   * returned function is called. Resolves once listening. Changes written while the
   * store is unreachable are not heard: `readAll` again afterwards.
   */
  listen(onChange: (change: FlagChange) => void): Promise<() => Promise<void>>;
}

/**
 * Where budgets are counted. `memoryStore()` (one process) and `redisStore()` (many
 * processes) implement it and pass the same contract tests.
 */
export interface Store {
  /**
   * Atomically, over every scope: refuse if any scope cannot afford `input + 1`,
   * taking nothing; otherwise grant `outputCap = min(maxOutput, min over scopes of
   * (remaining - input))` and add `input + outputCap` to every scope.
   * `scopes` in the result follow the order of the request, as seen after the call.
   */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /**
   * Moves every reserved counter by what the call used minus the part's `amount`
   * (never below zero) and ends the lease; if the lease had already been taken
   * (settled at its input), by what it used minus the input's amount. Settling a
   * reservation again moves nothing, so a settle whose reply was lost can be retried. A counter whose
   * window has since expired is left alone. `actual` is a `CallUsage`, or a token
   * count where no scope is a money scope (0 for any). Reports the spend of the
   * scopes that track it.
   */
  settle(reservation: Reservation, actual: number | CallUsage): Promise<SettleReport>;
  /** Gives the whole reservation back: `settle(reservation, 0)` (so once, like any settle). */
  release(reservation: Reservation): Promise<SettleReport>;
  /** The settled amount of a scope that tracks spend, in the windows containing each instant (0 where none). */
  spentAt?(scope: ScopeRequest, atMs: readonly number[]): Promise<number[]>;
  /**
   * Adds `amount` (negative: takes away, never below zero) to each scope's window at
   * `atMs`, creating the counter if needed; a window that has expired is left alone.
   * How counts taken elsewhere (a fallback during an outage) are carried back. A
   * `batchId` already added (a retry after a lost reply) adds nothing and reports what
   * the first attempt moved. Reports the settled spend it moved, as `settle` does.
   */
  add?(counts: readonly CountedElsewhere[], batchId?: string): Promise<SettleReport>;
  /**
   * The store's clock, epoch ms (for a remote store, its best estimate): windows and
   * counts taken elsewhere are placed on it. @default Date.now
   */
  now?(): number;
  /** Reads a scope's state without changing it. */
  usage(scope: ScopeRequest): Promise<ScopeState>;
  /**
   * Notes that process `processId` is alive for the next `ttlMs` (the store's clock) and
   * returns how many processes are alive, this one included. A store shared by many
   * processes has it; during an outage each process then spends only its share.
   */
  heartbeat?(processId: string, ttlMs: number): Promise<number>;
  /**
   * Calls `listener` with the settled spend a store writes outside any request — a
   * settlement retried after an outage, counts handed back from a fallback — so that
   * spend alerts see it (`resilientStore`).
   */
  onLateSpend?(listener: (report: SettleReport) => void): void;
  /**
   * Adds each increment to its ranking (creating it with its `ttlMs`): what a dashboard
   * reads later without scanning keys (top principals, spend by feature).
   */
  rank?(increments: readonly RankIncrement[]): Promise<void>;
  /** The `limit` highest members of ranking `key`, highest first (equal scores: member in reverse byte order). */
  ranked?(key: string, limit: number): Promise<RankedMember[]>;
  /** Stops timers and forgets state the store owns; never closes a client it was given. */
  close?(): Promise<void>;
  /**
   * The channel that shares feature flags between the processes using this store
   * (`redisStore` has one); without it, flags live in each process alone (`memoryStore`).
   */
  flagChannel?(): FlagChannel;
}
