// Amounts of money: USD options read into integer nano-USD, and nano-USD written back as exact USD.
import { fail } from '../options/check';

export const NANOS_PER_USD = 1_000_000_000;

/** A positive USD amount from the options, in whole nano-USD (at least 1). */
export function usdToNanos(usd: unknown, path: string): number {
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd <= 0) {
    fail('TB_INVALID_OPTION', `${path} must be a positive amount of USD; got ${JSON.stringify(usd)}.`);
  }
  const nanos = Math.round(usd * NANOS_PER_USD);
  if (!Number.isSafeInteger(nanos))
    fail('TB_INVALID_OPTION', `${path} is more than ${Number.MAX_SAFE_INTEGER / NANOS_PER_USD} USD.`);
  return Math.max(1, nanos);
}

/** Nano-USD as a USD number (alert payloads): exact to the cent and well beyond for any real bill. */
export function nanosToUsd(nanos: number): number {
  return nanos / NANOS_PER_USD;
}

/** Nano-USD as an exact decimal string of USD with nine places, e.g. `0.000123450`. */
export function formatUsd(nanos: number): string {
  const sign = nanos < 0 ? '-' : '';
  const abs = Math.abs(nanos);
  return `${sign}${Math.floor(abs / NANOS_PER_USD)}.${String(abs % NANOS_PER_USD).padStart(9, '0')}`;
}
