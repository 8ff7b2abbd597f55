// What a call amounts to in a scope: tokens, or money at fractional per-token weights rounded up; free output; a bare token count.
import {
  affordableOutput,
  amountOf,
  callUsageOf,
  inputAmountOf,
  outputWeightOf,
  reservedAmountOf,
} from '../../lib/store/amounts';
import type { ScopeRequest, TokenWeights } from '../../lib/store/types';
import { scope } from './contract';

const tokens = scope('u:{u=amounts}:day', 100);
const money = (weights: TokenWeights, limit = 100): ScopeRequest => ({ ...scope('f:{wallet}', limit), kind: 'spend', weights });
const halves = money({ input: 0.5, cachedInput: 0.25, output: 1.5 });

describe('callUsageOf', () => {
  it('reads a bare number as prompt tokens, and a usage as it is', () => {
    expect(callUsageOf(5, [tokens])).toEqual({ input: 5, cachedInput: 0, output: 0 });
    const usage = { input: 3, cachedInput: 1, output: 2 };
    expect(callUsageOf(usage, [halves])).toBe(usage);
  });

  it('refuses a token count for money scopes, but not a release (0)', () => {
    expect(() => callUsageOf(5, [tokens, halves])).toThrow(RangeError);
    expect(() => callUsageOf(5, [halves])).toThrow(
      'A reservation with money scopes is settled with a CallUsage, not a token count',
    );
    expect(callUsageOf(0, [tokens, halves])).toEqual({ input: 0, cachedInput: 0, output: 0 });
  });
});

describe('amountOf', () => {
  it('counts prompt and output tokens in a token scope (cached ones are prompt tokens)', () => {
    expect(amountOf(tokens, { input: 100, cachedInput: 40, output: 30 })).toBe(130);
  });

  it('weighs uncached, cached and output tokens apart in a money scope, rounded up', () => {
    // 7 × 0.5 + 3 × 0.25 + 3 × 1.5 = 8.75
    expect(amountOf(halves, { input: 10, cachedInput: 3, output: 3 })).toBe(9);
  });

  it('never counts more cached tokens than prompt tokens', () => {
    // 10 cached at 0.25 and 3 × 1.5, not 20 cached and -10 uncached.
    expect(amountOf(halves, { input: 10, cachedInput: 20, output: 3 })).toBe(7);
  });
});

describe('reserving', () => {
  it('takes the prompt at its uncached weight, rounded up, and the output cap at its own', () => {
    expect(inputAmountOf(tokens, 3)).toBe(3);
    expect(inputAmountOf(halves, 3)).toBe(2);
    expect([outputWeightOf(tokens), outputWeightOf(halves)]).toEqual([1, 1.5]);
    expect(reservedAmountOf(tokens, 3, 3)).toBe(6);
    // 2 for the prompt, 4.5 rounded up for the output.
    expect(reservedAmountOf(halves, 3, 3)).toBe(7);
  });

  it('affords the output tokens that fit what is left after the use and the prompt, rounded down', () => {
    expect(affordableOutput(tokens, 40, 20)).toBe(40);
    // 100 - 10 - 20 × 0.5 = 80 left at 1.5 each.
    expect(affordableOutput(halves, 10, 20)).toBe(53);
    expect(affordableOutput(tokens, 90, 20)).toBe(-10);
  });

  it('affords any output when it is free, as long as the prompt fits', () => {
    const freeOutput = money({ input: 1, cachedInput: 1, output: 0 });
    expect(affordableOutput(freeOutput, 80, 20)).toBe(Number.MAX_SAFE_INTEGER);
    expect(affordableOutput(freeOutput, 80, 21)).toBe(-1);
  });
});
