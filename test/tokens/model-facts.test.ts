// The facts a model name resolves to that the other tests leave out: which families hide reasoning tokens.
import { lookupModel } from '../../lib/tokens/models';

describe('hidden reasoning', () => {
  it.each(['gpt-4o', 'gpt-4.1-mini', 'gpt-3.5-turbo', 'gpt-5-chat-latest'])('%s shows all its output', (model) => {
    expect(lookupModel(model)!.hiddenReasoning).toBe(false);
  });

  it.each(['o1', 'o3-mini', 'o4-mini', 'gpt-5', 'gpt-5.1-mini'])('%s bills reasoning it never shows', (model) => {
    expect(lookupModel(model)!.hiddenReasoning).toBe(true);
  });
});
