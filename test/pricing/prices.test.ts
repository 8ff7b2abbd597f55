// Prices: every model family priced, snapshots and fine-tunes priced as their family, overrides, unknown models refused.
import { TokenBudgetConfigError } from '../../lib/config-error';
import { findPrice, priceOf, readPrices } from '../../lib/pricing/prices';
import type { ModelPrice } from '../../lib';
import { PUBLISHED_PRICES } from '../../lib/pricing/table';
import { lookupModel } from '../../lib/tokens/models';

const usd = (input: number, cachedInput: number, output: number) => ({
  input: Math.round(input * 1e9),
  cachedInput: Math.round(cachedInput * 1e9),
  output: Math.round(output * 1e9),
});

// USD per 1M tokens (input, cached input, output) as OpenAI lists them: a second,
// independent copy, so that a typo in the table fails here.
const EXPECTED: Record<string, [number, number, number]> = {
  'gpt-5': [1.25, 0.125, 10],
  'gpt-5-mini': [0.25, 0.025, 2],
  'gpt-5-nano': [0.05, 0.005, 0.4],
  'gpt-4.1': [2, 0.5, 8],
  'gpt-4.1-mini': [0.4, 0.1, 1.6],
  'gpt-4.1-nano': [0.1, 0.025, 0.4],
  'gpt-4o': [2.5, 1.25, 10],
  'gpt-4o-mini': [0.15, 0.075, 0.6],
  o1: [15, 7.5, 60],
  'o1-mini': [1.1, 0.55, 4.4],
  o3: [2, 0.5, 8],
  'o3-mini': [1.1, 0.55, 4.4],
  'o4-mini': [1.1, 0.275, 4.4],
  'gpt-4-turbo': [10, 10, 30],
  'gpt-4': [30, 30, 60],
  'gpt-3.5-turbo': [0.5, 0.5, 1.5],
};

/** Every family of the model table (lib/tokens/models.ts). */
const MODEL_TABLE_FAMILIES = [
  'gpt-3.5-turbo',
  'gpt-35-turbo',
  'gpt-4',
  'gpt-4-32k',
  'gpt-4-turbo',
  'gpt-4-1106-preview',
  'gpt-4-0125-preview',
  'gpt-4-vision-preview',
  'gpt-4o',
  'chatgpt-4o-latest',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-4.5',
  'o1',
  'o1-mini',
  'o1-pro',
  'o3',
  'o3-mini',
  'o3-pro',
  'o4-mini',
  'gpt-5',
];

describe('published prices', () => {
  it.each(Object.entries(EXPECTED))('prices %s as OpenAI lists it', (model, [input, cached, output]) => {
    expect(priceOf(model)).toEqual({ price: usd(input, cached, output), pricedAs: model });
  });

  it('prices every family of the model table under its own name', () => {
    for (const family of MODEL_TABLE_FAMILIES) {
      expect(lookupModel(family)?.family).toBe(family);
      expect(priceOf(family).pricedAs).toBe(family);
    }
  });

  it('dates every row and names its source', () => {
    for (const [model, row] of Object.entries(PUBLISHED_PRICES)) {
      expect([model, row.checked]).toEqual([model, expect.stringMatching(/^20\d\d-\d\d-\d\d$/)]);
      expect(row.source.length).toBeGreaterThan(10);
      // Caching never costs more than not caching.
      expect(row.cachedInput ?? row.input).toBeLessThanOrEqual(row.input);
    }
  });

  it('prices the models most apps call at realistic magnitudes (nano-USD per 1M tokens)', () => {
    expect(priceOf('gpt-4o-mini').price.input).toBe(150_000_000);
    expect(priceOf('gpt-5-nano').price.cachedInput).toBe(5_000_000);
    expect(priceOf('o1-pro').price.output).toBe(600_000_000_000);
  });
});

describe('snapshots and fine-tunes', () => {
  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-2024-11-20', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['gpt-5-mini-2025-08-07', 'gpt-5-mini'],
    ['gpt-5-2025-08-07', 'gpt-5'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['o3-2025-04-16', 'o3'],
    ['o1-2024-12-17', 'o1'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-4-32k-0613', 'gpt-4-32k'],
    ['gpt-4-turbo-2024-04-09', 'gpt-4-turbo'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['gpt-3.5-turbo-16k-0613', 'gpt-3.5-turbo-16k'],
    ['gpt-4.5-preview-2025-02-27', 'gpt-4.5-preview'],
    ['gpt-5.1-2025-11-13', 'gpt-5.1'],
    // A new snapshot nobody has listed yet.
    ['gpt-4.1-2026-12-01', 'gpt-4.1'],
  ])('prices %s as %s', (model, family) => {
    expect(priceOf(model)).toEqual({ price: priceOf(family).price, pricedAs: family });
  });

  it('keeps the prices of snapshots that have their own', () => {
    expect(priceOf('gpt-4o-2024-05-13')).toEqual({ price: usd(5, 5, 15), pricedAs: 'gpt-4o-2024-05-13' });
    expect(priceOf('gpt-3.5-turbo-0613').price).toEqual(usd(1.5, 1.5, 2));
  });

  it.each([
    ['ft:gpt-4o-mini-2024-07-18:acme::9abc123', 'ft:gpt-4o-mini', usd(0.3, 0.3, 1.2)],
    ['ft:gpt-4o-2024-08-06:acme:support:Bx7', 'ft:gpt-4o', usd(3.75, 3.75, 15)],
    ['ft:gpt-3.5-turbo-0613:acme::x', 'ft:gpt-3.5-turbo', usd(3, 3, 6)],
  ])('prices the fine-tune %s at the published fine-tune row, cached input unreduced', (model, row, price) => {
    expect(priceOf(model)).toEqual({ price, pricedAs: row });
  });

  it('prices a fine-tune of a base without an ft: row at the highest known markup (×6 input, ×4 output), never at base rates', () => {
    expect(priceOf('ft:gpt-4.1-2025-04-14:acme:support:Bx7')).toEqual({
      price: usd(12, 12, 32),
      pricedAs: 'gpt-4.1 × fine-tune markup',
    });
    const prices = readPrices({ 'gpt-4.1': { input: 1, output: 2 } });
    expect(priceOf('ft:gpt-4.1:acme::1', prices).price).toEqual(usd(6, 6, 8));
  });

  it('prices fine-tunes by an ft: row or by their exact name when the app gives one', () => {
    const prices = readPrices({
      'ft:gpt-4o-mini': { input: 0.3, output: 1.2 },
      'ft:gpt-4.1-2025-04-14:acme:special:1': { input: 9, output: 9 },
    });
    expect(priceOf('ft:gpt-4o-mini-2024-07-18:acme::9abc123', prices)).toEqual({
      price: usd(0.3, 0.3, 1.2),
      pricedAs: 'ft:gpt-4o-mini',
    });
    expect(priceOf('ft:gpt-4.1-2025-04-14:acme:special:1', prices).price).toEqual(usd(9, 9, 9));
    expect(priceOf('ft:gpt-4.1-2025-04-14:acme:other:2', prices).pricedAs).toBe('gpt-4.1 × fine-tune markup');
  });

  it.each([
    'gpt-5.4',
    'gpt-4o-realtime-preview',
    'o3-deep-research',
    'gpt-4o-x',
    'gpt-4o2',
    'gpt-4o-2024-08',
    'ft:',
    'ft:unknown-model:org::1',
  ])('does not guess a price for %s, a different model than its prefix', (model) => {
    expect(findPrice(model)).toBeUndefined();
  });
});

describe('overrides and fallback', () => {
  it('replaces a published price, for the family and its snapshots', () => {
    const prices = readPrices({ 'gpt-4o': { input: 2, cachedInput: 1, output: 8 } });
    expect(priceOf('gpt-4o', prices).price).toEqual(usd(2, 1, 8));
    expect(priceOf('gpt-4o-2024-08-06', prices).price).toEqual(usd(2, 1, 8));
    expect(priceOf('gpt-4o-mini', prices).price).toEqual(usd(0.15, 0.075, 0.6));
    // The published default is untouched.
    expect(priceOf('gpt-4o').price).toEqual(usd(2.5, 1.25, 10));
  });

  it('adds a model, cached input defaulting to the input price', () => {
    const prices = readPrices({ 'my-model': { input: 0.7, output: 2.1 } });
    expect(priceOf('my-model-2026-01-01', prices)).toEqual({ price: usd(0.7, 0.7, 2.1), pricedAs: 'my-model' });
  });

  it('prices a model no row knows at the fallback', () => {
    const prices = readPrices({}, { input: 1, cachedInput: 0.5, output: 4 });
    expect(priceOf('gpt-5.4', prices)).toEqual({ price: usd(1, 0.5, 4), pricedAs: 'fallback' });
    expect(priceOf('gpt-4o', prices).pricedAs).toBe('gpt-4o');
  });

  it('refuses an unknown model without a fallback: never a silent $0', () => {
    expect(() => priceOf('gpt-5.4')).toThrow(TokenBudgetConfigError);
    expect(() => priceOf('gpt-5.4')).toThrow(/"gpt-5\.4" has no known price.*fallbackPrice/);
    try {
      priceOf('acme-llm', readPrices({ 'gpt-4o': { input: 1, output: 1 } }));
      throw new Error('priced');
    } catch (err) {
      expect((err as TokenBudgetConfigError).code).toBe('TB_UNPRICED_MODEL');
    }
  });

  it.each<[string, unknown]>([
    ['negative', { input: -1, output: 1 }],
    ['not a number', { input: '2.5', output: 10 }],
    ['NaN', { input: Number.NaN, output: 10 }],
    ['infinite', { input: 1, output: Number.POSITIVE_INFINITY }],
    ['per token instead of per 1M', { input: 2.5, output: 2_000_000 }],
    ['finer than a nano-USD per 1M tokens', { input: 1e-10, output: 1 }],
    ['a bad cached price', { input: 1, cachedInput: -0.5, output: 1 }],
    ['not an object', 2.5],
  ])('rejects a %s price as a configuration error', (_name, price) => {
    expect(() => readPrices({ 'gpt-4o': price as ModelPrice })).toThrow(expect.objectContaining({ code: 'TB_INVALID_OPTION' }));
    expect(() => readPrices({}, price as ModelPrice)).toThrow(expect.objectContaining({ code: 'TB_INVALID_OPTION' }));
  });

  it('names the offending option', () => {
    expect(() => readPrices({ 'my-model': { input: 1, output: -2 } })).toThrow(/prices\["my-model"\]\.output/);
    expect(() => readPrices({}, { input: -1, output: 1 })).toThrow(/fallbackPrice\.input/);
  });
});
