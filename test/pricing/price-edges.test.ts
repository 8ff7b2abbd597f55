// Prices at their edges: the bounds of a price, its precision, the words of each refusal, routers' names and costs too big to be exact.
import { callCostNanos, costNanos } from '../../lib/pricing/cost';
import { priceOf, readPrices, toNanoPrice } from '../../lib/pricing/prices';

describe('the bounds of a price', () => {
  it('takes $0 and $1,000,000 per 1M tokens, and nine decimal places', () => {
    expect(toNanoPrice({ input: 0, output: 1_000_000 }, 'p')).toEqual({
      input: 0,
      cachedInput: 0,
      output: 1_000_000_000_000_000,
    });
    expect(toNanoPrice({ input: 0.000000001, cachedInput: 0.075, output: 1.000000002 }, 'p')).toEqual({
      input: 1,
      cachedInput: 75_000_000,
      output: 1_000_000_002,
    });
  });

  it.each<[string, unknown, string]>([
    [
      'above $1,000,000',
      { input: 1_000_000.5, output: 1 },
      'prices["m"].input must be a price in USD per 1M tokens between 0 and 1000000; got 1000000.5.',
    ],
    [
      'below $0',
      { input: 1, output: -0.001 },
      'prices["m"].output must be a price in USD per 1M tokens between 0 and 1000000; got -0.001.',
    ],
    [
      'finer than a nano-USD',
      { input: 1.0000000004, output: 1 },
      'prices["m"].input has more precision than 1 nano-USD per 1M tokens; got 1.0000000004.',
    ],
    ['a missing price', null, 'prices["m"] must be { input, cachedInput?, output } in USD per 1M tokens.'],
  ])('refuses a price %s, naming it', (_what, price, message) => {
    expect(() => readPrices({ m: price as never })).toThrow(`${message} [TB_INVALID_OPTION]`);
  });

  it('refuses prices that are not a map, and an empty model name', () => {
    expect(() => readPrices(null as never)).toThrow('prices must map model names to { input, cachedInput?, output }.');
    expect(() => readPrices({ '': { input: 1, output: 1 } })).toThrow('prices has an empty model name.');
  });
});

describe("a router's model names", () => {
  it('are priced as the name after the last /, unless the app prices the full name', () => {
    expect(priceOf('openrouter/openai/gpt-4o')).toEqual(priceOf('gpt-4o'));
    const prices = readPrices({ 'openai/gpt-4o': { input: 1, output: 1 } });
    expect(priceOf('openai/gpt-4o', prices)).toEqual({
      price: { input: 1e9, cachedInput: 1e9, output: 1e9 },
      pricedAs: 'openai/gpt-4o',
    });
  });
});

describe('costs', () => {
  it('refuses a cost beyond exact integer arithmetic', () => {
    const dear = { input: 1e18, cachedInput: 1e18, output: 1e18 };
    expect(() => costNanos(dear, { promptTokens: 1e6, completionTokens: 0 })).toThrow(
      'A cost of 1000000000000000000 nano-USD is beyond exact integer arithmetic.',
    );
  });

  it('names the bad count', () => {
    const price = priceOf('gpt-4o').price;
    expect(() => costNanos(price, { promptTokens: 1, cachedTokens: 0.5, completionTokens: 0 })).toThrow(
      'cachedTokens must be a non-negative integer; got 0.5.',
    );
    expect(() => costNanos(price, { promptTokens: 1, completionTokens: -2 })).toThrow(
      'completionTokens must be a non-negative integer; got -2.',
    );
  });

  it("prices a settled call's usage: input, cached input and output", () => {
    // gpt-4o: 600 × $2.50 + 400 × $1.25 + 500 × $10 per 1M = $0.007.
    expect(callCostNanos(priceOf('gpt-4o').price, { input: 1000, cachedInput: 400, output: 500 })).toBe(7_000_000);
  });
});
