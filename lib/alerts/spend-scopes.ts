// The money scopes of a cost meter (hour and day, global or per feature), shared by costMeter and the CLI.
import type { NanoPrice } from '../pricing/prices';
import { globalScopeKey } from '../store/keys';
import { periodAt } from '../store/periods';
import type { FixedWindow, ScopeRequest, TokenWeights, UnavailablePolicy } from '../store/types';

export type SpendWindow = 'hour' | 'day';

export interface SpendScopeSpec {
  /** The meter's name (checked: letters, digits, `_`, `.`, `-`). */
  meter: string;
  /** The feature, for a meter kept per feature. */
  feature: string | undefined;
  window: SpendWindow;
  timeZone: string;
  /** The cap, nano-USD; `Number.MAX_SAFE_INTEGER` for none. */
  limit: number;
  weights: TokenWeights;
  onUnavailable: UnavailablePolicy;
}

/** Tracking only: a limit no spend reaches. */
export const NO_CAP = Number.MAX_SAFE_INTEGER;

const TOKENS_PER_PRICE_UNIT = 1_000_000;

/** Nano-USD per token of a price given in nano-USD per 1M tokens. */
export function weightsOf(price: NanoPrice): TokenWeights {
  return {
    input: price.input / TOKENS_PER_PRICE_UNIT,
    cachedInput: price.cachedInput / TOKENS_PER_PRICE_UNIT,
    output: price.output / TOKENS_PER_PRICE_UNIT,
  };
}

/**
 * The key of a meter's window, e.g. `g:{spend@}:hour` or `g:{spend@chat}:day@Europe/Paris`.
 * `@` never occurs in a checked name, so no meter key can be a globalTpm's, and meter,
 * feature and window are told apart.
 */
export function spendScopeKey(meter: string, feature: string | undefined, window: SpendWindow, timeZone: string): string {
  const period = timeZone === 'UTC' ? window : `${window}@${timeZone}`;
  return `${globalScopeKey(`${meter}@${feature ?? ''}`)}:${period}`;
}

/** How long past its hour an hour's settled spend is kept: the 24 hours a spike is measured against, and one spare. */
const SPIKE_HISTORY_MS = 25 * 3_600_000;

/** A money scope of a meter: a calendar window whose settled spend is tracked. */
export function spendScope(spec: SpendScopeSpec): ScopeRequest & { window: FixedWindow } {
  const { window, timeZone } = spec;
  return {
    kind: 'spend',
    name: spec.meter,
    key: spendScopeKey(spec.meter, spec.feature, window, timeZone),
    limit: spec.limit,
    onUnavailable: spec.onUnavailable,
    window: { kind: 'fixed', periodAt: (nowMs) => periodAt(nowMs, window, timeZone) },
    weights: spec.weights,
    tracksSpend: true,
    // A spike is judged against the 24 hours before: each hour's spend is kept that long.
    ...(window === 'hour' ? { keepSpentMs: SPIKE_HISTORY_MS } : {}),
  };
}
