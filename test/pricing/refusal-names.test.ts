// Each refused price or count is named where it was given: the option's path, the count's name, the published row.
import { costNanos } from '../../lib/pricing/cost';
import { readPrices } from '../../lib/pricing/prices';

describe('a refused price names where it was given', () => {
  it.each<[string, unknown, string]>([
    [
      'its cached input price',
      { input: 1, cachedInput: -0.5, output: 1 },
      'prices["m"].cachedInput must be a price in USD per 1M tokens between 0 and 1000000; got -0.5.',
    ],
    ['a number instead of an object', 2.5, 'prices["m"] must be { input, cachedInput?, output } in USD per 1M tokens.'],
  ])('%s', (_what, price, message) => {
    expect(() => readPrices({ m: price as never })).toThrow(`${message} [TB_INVALID_OPTION]`);
  });

  it.each([42, 'gpt-4o'])('refuses prices given as %p, not as a map', (prices) => {
    expect(() => readPrices(prices as never)).toThrow(
      'prices must map model names to { input, cachedInput?, output }. [TB_INVALID_OPTION]',
    );
  });

  it('names a bad row of the published table when the module loads', () => {
    jest.isolateModules(() => {
      jest.doMock('../../lib/pricing/table', () => ({ PUBLISHED_PRICES: { 'gpt-typo': { input: 2.5, output: -10 } } }));
      // The table is read once, as the module loads: that is when a typo in it must stop the app.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      expect(() => require('../../lib/pricing/prices')).toThrow(
        'published price of gpt-typo.output must be a price in USD per 1M tokens between 0 and 1000000; got -10. [TB_INVALID_OPTION]',
      );
    });
  });
});

describe('a refused count names the count', () => {
  it('promptTokens', () => {
    const price = { input: 1, cachedInput: 1, output: 1 };
    expect(() => costNanos(price, { promptTokens: -1, completionTokens: 0 })).toThrow(
      'promptTokens must be a non-negative integer; got -1.',
    );
  });
});
