// Cost of a call in integer nano-USD: the billing formula, rounding up, exact sums over a million calls.
import { costNanos } from '../../lib/pricing/cost';
import { priceOf } from '../../lib/pricing/prices';

const price = (model: string) => priceOf(model).price;

describe('costNanos', () => {
  it('bills uncached input, cached input and output at their own rates', () => {
    // gpt-4o: 600 × $2.50 + 400 × $1.25 + 500 × $10 per 1M = $0.007.
    expect(costNanos(price('gpt-4o'), { promptTokens: 1000, cachedTokens: 400, completionTokens: 500 })).toBe(7_000_000);
    // The same call with nothing cached costs more.
    expect(costNanos(price('gpt-4o'), { promptTokens: 1000, completionTokens: 500 })).toBe(7_500_000);
    expect(costNanos(price('gpt-4o'), { promptTokens: 1000, cachedTokens: 0, completionTokens: 500 })).toBe(7_500_000);
  });

  it('bills completion tokens (reasoning included) at the output rate', () => {
    // o3 at $8 per 1M output: 10,000 completion tokens, most of them reasoning, cost $0.08.
    expect(costNanos(price('o3'), { promptTokens: 0, completionTokens: 10_000 })).toBe(80_000_000);
  });

  it('takes a cached count above the prompt as the whole prompt cached', () => {
    expect(costNanos(price('gpt-4.1'), { promptTokens: 100, cachedTokens: 500, completionTokens: 0 })).toBe(
      costNanos(price('gpt-4.1'), { promptTokens: 100, cachedTokens: 100, completionTokens: 0 }),
    );
  });

  it('rounds a fraction of a nano-USD up, never down, once per call', () => {
    // Published prices are whole nano-USD per token ($0.005 per 1M = 5); an app's own may be finer.
    const fine = { input: 500_000, cachedInput: 100_000, output: 1_000_000 }; // 0.5, 0.1 and 1 nano-USD per token
    expect(costNanos(fine, { promptTokens: 1, cachedTokens: 1, completionTokens: 0 })).toBe(1);
    expect(costNanos(fine, { promptTokens: 1, completionTokens: 0 })).toBe(1);
    // 9 cached (0.9) + 1 uncached (0.5) = 1.4 → 2: the parts are summed before rounding, not each rounded.
    expect(costNanos(fine, { promptTokens: 10, cachedTokens: 9, completionTokens: 0 })).toBe(2);
    expect(costNanos(fine, { promptTokens: 10, cachedTokens: 10, completionTokens: 3 })).toBe(4);
    expect(costNanos(fine, { promptTokens: 0, completionTokens: 0 })).toBe(0);
  });

  it('is exact for the largest calls of the most expensive model', () => {
    // o1-pro: 1,000,000 input at $150 + 100,000 output at $600 per 1M = $210.
    expect(costNanos(price('o1-pro'), { promptTokens: 1_000_000, completionTokens: 100_000 })).toBe(210_000_000_000);
  });

  it.each([
    ['a negative count', { promptTokens: -1, completionTokens: 0 }],
    ['a fraction', { promptTokens: 1.5, completionTokens: 0 }],
    ['NaN', { promptTokens: 10, completionTokens: Number.NaN }],
    ['a negative cached count', { promptTokens: 10, cachedTokens: -1, completionTokens: 0 }],
  ])('refuses %s', (_name, tokens) => {
    expect(() => costNanos(price('gpt-4o'), tokens)).toThrow(RangeError);
  });
});

describe('a million calls of a cheap model', () => {
  const CALLS = 1_000_000;

  it('sum to the exact integer total (gpt-4o-mini, varied usage)', () => {
    // gpt-4o-mini costs whole nano-USD per token (150, 75, 600), so the exact total is known independently.
    const mini = price('gpt-4o-mini');
    let total = 0;
    let uncached = 0;
    let cached = 0;
    let completion = 0;
    for (let i = 0; i < CALLS; i++) {
      const prompt = 50 + (i % 997);
      const cachedTokens = Math.min(prompt, (i % 5) * 256);
      const completionTokens = i % 301;
      total += costNanos(mini, { promptTokens: prompt, cachedTokens, completionTokens });
      uncached += prompt - cachedTokens;
      cached += cachedTokens;
      completion += completionTokens;
    }
    expect(Number.isSafeInteger(total)).toBe(true);
    expect(total).toBe(150 * uncached + 75 * cached + 600 * completion);
  });

  it('sum exactly where floating-point dollars drift (gpt-5-nano)', () => {
    // Each call: 1,000 uncached × $0.05 + 1,000 cached × $0.005 + 500 output × $0.40 per 1M = 255,000 nano-USD.
    const nano = price('gpt-5-nano');
    const call = { promptTokens: 2000, cachedTokens: 1000, completionTokens: 500 };
    let total = 0;
    let dollars = 0;
    for (let i = 0; i < CALLS; i++) {
      total += costNanos(nano, call);
      dollars += (1000 * 0.05 + 1000 * 0.005 + 500 * 0.4) / 1e6;
    }
    expect(total).toBe(255_000_000_000);
    // What an implementation summing dollars as floats would report instead.
    expect(dollars).not.toBe(255);
  });
});
