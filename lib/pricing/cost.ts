// What a call costs, in integer nano-USD: exact arithmetic, rounded up once per call.
import type { CallUsage } from '../store/types';
import type { NanoPrice } from './prices';

/** The token counts a chat completion bills (its `usage`). */
export interface BilledTokens {
  /** `usage.prompt_tokens`: every input token, cached ones included. */
  promptTokens: number;
  /** `usage.prompt_tokens_details.cached_tokens`: the part of the prompt billed at the cached rate. @default 0 */
  cachedTokens?: number;
  /** `usage.completion_tokens`: output, reasoning tokens included. */
  completionTokens: number;
}

const TOKENS_PER_PRICE_UNIT = 1_000_000n;

function tokenCount(value: number | undefined, name: string): bigint {
  if (value === undefined) return 0n;
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer; got ${value}.`);
  return BigInt(value);
}

/**
 * Cost in nano-USD: (prompt − cached) × input + cached × cached input + completion
 * × output, with prices per 1M tokens. Computed exactly and rounded up to a whole
 * nano-USD once, so a call is never priced below what it cost and a sum of costs
 * is an exact integer sum. A cached count above the prompt is taken as the prompt.
 */
export function costNanos(price: NanoPrice, tokens: BilledTokens): number {
  const prompt = tokenCount(tokens.promptTokens, 'promptTokens');
  const cachedReported = tokenCount(tokens.cachedTokens, 'cachedTokens');
  const cached = cachedReported < prompt ? cachedReported : prompt;
  const completion = tokenCount(tokens.completionTokens, 'completionTokens');
  const perMillion =
    (prompt - cached) * BigInt(price.input) + cached * BigInt(price.cachedInput) + completion * BigInt(price.output);
  const cost = Number((perMillion + TOKENS_PER_PRICE_UNIT - 1n) / TOKENS_PER_PRICE_UNIT);
  if (!Number.isSafeInteger(cost)) throw new RangeError(`A cost of ${cost} nano-USD is beyond exact integer arithmetic.`);
  return cost;
}

/** What a settled call cost at `price`, nano-USD. */
export function callCostNanos(price: NanoPrice, usage: CallUsage): number {
  return costNanos(price, { promptTokens: usage.input, cachedTokens: usage.cachedInput, completionTokens: usage.output });
}
