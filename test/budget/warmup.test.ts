// budget.warmup() builds the encoders of the configured models before the first request, and only those.
import type * as Lib from '../../lib';

test('warmup() loads the encodings of the configured models, and no other', () => {
  const loaded: string[] = [];
  jest.isolateModules(() => {
    for (const encoding of ['o200k_base', 'cl100k_base']) {
      jest.doMock(`js-tiktoken/ranks/${encoding}`, () => {
        loaded.push(encoding);
        return jest.requireActual(`js-tiktoken/ranks/${encoding}`);
      });
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createTokenBudget } = require('../../lib') as typeof Lib;
    const budget = createTokenBudget({ features: { legacy: { model: 'gpt-4', maxInput: 1000, maxOutput: 100 } } });
    expect(loaded).toEqual([]);
    budget.warmup();
    expect(loaded).toEqual(['cl100k_base']);
  });
});
