// What a scope counts of a call: tokens, or money at its per-token weights, in whole units.
import type { CallUsage, ScopeRequest } from './types';

const NO_USAGE: CallUsage = { input: 0, cachedInput: 0, output: 0 };

/** A settle's `actual` as a usage; a bare number is a token count, meaningless to money scopes. */
export function callUsageOf(actual: number | CallUsage, scopes: readonly ScopeRequest[]): CallUsage {
  if (typeof actual !== 'number') return actual;
  if (actual !== 0 && scopes.some((scope) => scope.weights)) {
    throw new RangeError('A reservation with money scopes is settled with a CallUsage, not a token count');
  }
  return actual === 0 ? NO_USAGE : { input: actual, cachedInput: 0, output: 0 };
}

/** What `usage` amounts to in `scope`: tokens, or nano-USD rounded up. */
export function amountOf(scope: ScopeRequest, usage: CallUsage): number {
  const weights = scope.weights;
  if (!weights) return usage.input + usage.output;
  const cached = Math.min(usage.cachedInput, usage.input);
  return Math.ceil((usage.input - cached) * weights.input + cached * weights.cachedInput + usage.output * weights.output);
}

/** What `input` prompt tokens amount to in `scope` (none of them cached: the worst case). */
export function inputAmountOf(scope: ScopeRequest, input: number): number {
  return scope.weights ? Math.ceil(input * scope.weights.input) : input;
}

/** What one output token weighs in `scope`. */
export function outputWeightOf(scope: ScopeRequest): number {
  return scope.weights?.output ?? 1;
}

/** The amount a grant of `outputCap` output tokens takes from `scope`, on top of the input's. */
export function reservedAmountOf(scope: ScopeRequest, input: number, outputCap: number): number {
  return inputAmountOf(scope, input) + Math.ceil(outputCap * outputWeightOf(scope));
}

/** Output tokens `scope` can pay for once `used` and the input are counted. */
export function affordableOutput(scope: ScopeRequest, used: number, input: number): number {
  const left = scope.limit - used - inputAmountOf(scope, input);
  const weight = outputWeightOf(scope);
  // Free output (a zero price) is affordable while the input is.
  if (weight === 0) return left >= 0 ? Number.MAX_SAFE_INTEGER : -1;
  return Math.floor(left / weight);
}
