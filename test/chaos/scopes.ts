// The scopes a chaos worker declares, rebuilt so a test can read them straight from the store, and the slowed store clock.
import { featureScopeKey, globalScopeKey, userScopeKey } from '../../lib/store/keys';
import { periodAt } from '../../lib/store/periods';
import type { ScopeRequest } from '../../lib/store/types';

/** What a chaos worker reads from its environment. */
export interface ChaosEnv {
  /** 'redis' (default) or 'memory'. */
  STORE?: string;
  REDIS_URL?: string;
  PREFIX?: string;
  /** redisStore's deadline, ms (default: the store's). */
  STORE_TIMEOUT_MS?: string;
  SOCKET_TIMEOUT_MS?: string;
  LOG_STORE_ERRORS?: string;
  /** onStoreUnavailable (default: the budget's, 'fallback'). */
  POLICY?: string;
  UPSTREAM_URL?: string;
  /** llmHandler's timeoutMs. */
  TIMEOUT_MS?: string;
  CALL_TIMEOUT_MS?: string;
  LEASE_MARGIN_MS?: string;
  ON_CLIENT_GONE?: string;
  /** The feature's maxOutput (default 40). */
  MAX_OUTPUT?: string;
  /** JSON tier → tokens per day; the `x-tier` header picks one (default tier: the smallest). */
  USER_LIMITS?: string;
  /** JSON CostMeterOptions: mounts a costMeter after the user quota; its alerts are read at GET /alerts. */
  COST_METER?: string;
  /** '1': the route is behind `featureFlag('chat')`, and so is GET /flagged (no budget); flags are read at GET /flags. */
  FLAG?: string;
  /** '1': serve without waiting for Redis to answer first (a process started during an outage). */
  LAZY_CONNECT?: string;
  /** With CLOCK_RATE: the store's clock runs `rate` times slower than real time from `t0`. */
  CLOCK_T0?: string;
  CLOCK_RATE?: string;
}

/**
 * A store clock slower than real time: the one-minute TPM window then holds a whole
 * test run, so the global counter can be compared with the sum of every charge.
 */
export const slowClock = (t0: number, rate: number) => () => Math.floor(t0 + (Date.now() - t0) / rate);

const DAY = { kind: 'fixed', periodAt: (now: number) => periodAt(now, 'day', 'UTC') } as const;

/**
 * The worker's second feature, at POST /assist: a conversation over `maxInput` is
 * summarized by `summarizer`, and a user with less than `downgradeBelow` of their quota
 * left is answered by `downgradeTo` (another encoding than gpt-4o's, so a call counted
 * with the wrong one shows in the ledger).
 */
export const ASSIST = {
  feature: 'assist',
  model: 'gpt-4o',
  maxInput: 300,
  summarizer: { model: 'gpt-4o-mini', maxInput: 400, maxOutput: 40 },
  downgradeTo: 'gpt-3.5-turbo',
  downgradeBelow: 0.75,
} as const;

const featureScope = (name: string): ScopeRequest => ({
  kind: 'feature',
  key: featureScopeKey(name),
  limit: 1e12,
  onUnavailable: 'fail-closed',
  window: DAY,
});

/** The feature, user and global scopes of the chaos worker's routes. */
export function chaosScopes(limits: Record<string, number>) {
  const smallest = Math.min(...Object.values(limits));
  return {
    limits,
    feature: featureScope('chat'),
    assist: featureScope(ASSIST.feature),
    global: {
      kind: 'global',
      key: globalScopeKey('tpm'),
      limit: 1e12,
      onUnavailable: 'fail-closed',
      window: { kind: 'sliding', windowMs: 60_000, bucketMs: 1_000 },
    } as ScopeRequest,
    user: (id: string, tier = 'default'): ScopeRequest => ({
      kind: 'user',
      key: userScopeKey(id, 'day'),
      limit: limits[tier] ?? smallest,
      onUnavailable: 'fail-closed',
      window: DAY,
    }),
  };
}
