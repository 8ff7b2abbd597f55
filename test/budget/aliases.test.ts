// Model aliases and router names: a name the app uses inherits a known model's row, with its own overrides; mistakes have codes.
import request from 'supertest';
import { countChatTokens, createTokenBudget, type TokenBudgetOptions } from '../../lib';
import { readModelAliases, withAliasPrices } from '../../lib/aliases';
import { readConfig } from '../../lib/config';
import { costNanos } from '../../lib/pricing/cost';
import { findPrice, priceOf, readPrices } from '../../lib/pricing/prices';
import { lookupModel } from '../../lib/tokens/models';
import { formatUsd } from '../../lib/alerts/money';
import { configError } from '../helpers/config-error';
import { chatDailyScope, startTestApp, type TestApp } from '../helpers/app';

const feature = (model: string, maxOutput = 50) => ({ chat: { maxInput: 100, maxOutput, model } });
const read = (options: Partial<TokenBudgetOptions> & Pick<TokenBudgetOptions, 'features'>) =>
  readConfig({ onWarning: () => {}, ...options });
const modelOf = (options: Parameters<typeof read>[0]) => read(options).features.get('chat')!.modelInfo;

describe('an alias inherits the row of the model it names', () => {
  test.each([
    ['gpt-4o', 'prod-chat-4o'],
    ['o3-mini', 'reasoner'],
    ['gpt-4.1-mini', 'cheap'],
    ['gpt-3.5-turbo-0301', 'legacy'],
  ])('%s as %s: encoding, framing, limits, output parameter, image rule', (model, alias) => {
    const info = modelOf({ features: feature(alias), models: { [alias]: model } });
    expect(info).toEqual(lookupModel(model));
  });

  test('through a chain of aliases, each override taken from the nearest', () => {
    const info = modelOf({
      features: feature('eu-chat'),
      models: {
        'eu-chat': { like: 'chat-4o', maxOutput: 2_000 },
        'chat-4o': { like: 'gpt-4o', contextWindow: 64_000, maxOutput: 8_000 },
      },
    });
    expect(info).toEqual({ ...lookupModel('gpt-4o'), contextWindow: 64_000, maxOutputTokens: 2_000 });
  });

  test("the model's limits hold for the alias, and an alias's own limits replace them", () => {
    expect(configError(() => read({ features: feature('prod', 20_000), models: { prod: 'gpt-4o' } })).code).toBe(
      'TB_OUTPUT_OVER_MODEL_LIMIT',
    );
    const tight = configError(() =>
      read({ features: feature('prod', 5_000), models: { prod: { like: 'gpt-4o', maxOutput: 4_096 } } }),
    );
    expect(tight.code).toBe('TB_OUTPUT_OVER_MODEL_LIMIT');
    // Errors name the model as the app named it.
    expect(tight.message).toMatch(/but prod produces at most 4096/);
    const context = configError(() =>
      read({
        features: { chat: { maxInput: 7_000, maxOutput: 2_000, model: 'small' } },
        models: { small: { like: 'gpt-4o', contextWindow: 8_192 } },
      }),
    );
    expect(context.code).toBe('TB_OVER_CONTEXT');
  });

  test('a feature on an alias keeps the alias as its model: the name sent upstream', () => {
    expect(read({ features: feature('prod-chat-4o'), models: { 'prod-chat-4o': 'gpt-4o' } }).features.get('chat')!.model).toBe(
      'prod-chat-4o',
    );
  });
});

describe('alias mistakes are configuration errors', () => {
  test.each([
    ['an unknown model', { a: 'gpt-17' }, 'TB_ALIAS_UNKNOWN_MODEL', /models\["a"\] is like "gpt-17"/],
    // The whole chain from its start, and nothing before it.
    ['a cycle', { a: 'b', b: { like: 'a' } }, 'TB_ALIAS_CYCLE', /^models: "a" → "b" → "a" is a cycle;/],
    ['itself', { 'gpt-4o': 'gpt-4o' }, 'TB_ALIAS_CYCLE', /"gpt-4o" → "gpt-4o"/],
    ['no like', { a: { prices: { input: 1, output: 1 } } }, 'TB_INVALID_OPTION', /models\["a"\] must be a model name/],
    ['a bad limit', { a: { like: 'gpt-4o', contextWindow: -1 } }, 'TB_INVALID_LIMIT', /models\["a"\]\.contextWindow/],
    ['a limit of 0', { a: { like: 'gpt-4o', maxOutput: 0 } }, 'TB_INVALID_LIMIT', /models\["a"\]\.maxOutput .* got 0\./],
    ['null', { a: null }, 'TB_INVALID_OPTION', /^models\["a"\] must be a model name, .*; got null\./],
    [
      'a function',
      { a: Object.assign(() => 'gpt-4o', { like: 'gpt-4o' }) },
      'TB_INVALID_OPTION',
      /models\["a"\] must be a model name/,
    ],
    ['an empty name', { '': 'gpt-4o' }, 'TB_INVALID_OPTION', /^models has an empty model name\./],
    ['null for the whole option', null, 'TB_INVALID_OPTION', /^models must map model names to the model each one is like\./],
    ['a name for the whole option', 'gpt-4o', 'TB_INVALID_OPTION', /^models must map model names/],
  ] as const)('%s', (_what, models, code, message) => {
    const err = configError(() => createTokenBudget({ features: feature('gpt-4o'), models: models as never }));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  test("a bad price of an alias names the alias's path", () => {
    const aliases = readModelAliases({ a: { like: 'gpt-4o', prices: { input: -1, output: 1 } } });
    expect(configError(() => withAliasPrices(readPrices(), aliases)).message).toMatch(/^models\["a"\]\.prices\.input must be/);
  });

  test('an unknown model names the models option as the way out', () => {
    expect(configError(() => read({ features: feature('prod-chat-4o') })).message).toMatch(/in models/);
  });
});

describe("a router's name vendor/model is the model after the last '/' when that is a known name", () => {
  test.each([
    ['openai/gpt-4o-mini', 'gpt-4o-mini'],
    ['openrouter/openai/gpt-4o', 'gpt-4o'],
    ['azure/o3-mini-2025-01-31', 'o3-mini'],
  ])('%s counts and prices as %s', (name, model) => {
    expect(lookupModel(name)).toEqual(lookupModel(model));
    expect(findPrice(name)?.price).toEqual(priceOf(model).price);
    expect(modelOf({ features: feature(name) })).toEqual(lookupModel(model));
  });

  test('a name after the prefix that is not known stays unknown', () => {
    expect(lookupModel('meta-llama/Llama-3.1-8B-Instruct')).toBeUndefined();
    expect(findPrice('meta-llama/Llama-3.1-8B-Instruct')).toBeUndefined();
    expect(configError(() => read({ features: feature('meta-llama/Llama-3.1-8B-Instruct') })).code).toBe('TB_UNKNOWN_MODEL');
  });

  test("a router's name with a price row of its own keeps it", () => {
    const budget = () =>
      createTokenBudget({ features: feature('openai/gpt-4o'), prices: { 'openai/gpt-4o': { input: 3, output: 12 } } });
    expect(() => budget().costMeter()).not.toThrow();
  });
});

describe('an alias is priced as its model unless it has a price of its own', () => {
  let t: TestApp;
  afterEach(() => t?.close());

  test('an alias whose model has no row has none either, not the published row of its own name', () => {
    const gpt4 = readPrices().rows.get('gpt-4')!;
    const onlyGpt4 = { rows: new Map([['gpt-4', gpt4]]), fallback: undefined };
    expect(withAliasPrices(onlyGpt4, readModelAliases({ 'gpt-4': 'gpt-4o' })).rows).toEqual(new Map());
  });

  async function costOf(options: Partial<TokenBudgetOptions>): Promise<string> {
    t = await startTestApp({
      budget: options,
      upstream: { completionTokens: () => 10 },
      chain: (budget, client) => [
        budget.featureBudget('chat'),
        budget.costMeter({ costHeader: true }),
        budget.llmHandler({ client }),
      ],
    });
    const res = await request(t.app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(res.status).toBe(200);
    return res.headers['x-token-budget-cost-usd'];
  }
  const usd = (input: number, output: number) =>
    formatUsd(
      costNanos(
        { input: input * 1e9, cachedInput: input * 1e9, output: output * 1e9 },
        { promptTokens: t.upstream.calls[0].promptTokens, completionTokens: 10 },
      ),
    );

  test('inherited: the price of gpt-4o', async () => {
    const header = await costOf({ features: feature('prod'), models: { prod: 'gpt-4o' } });
    expect(header).toBe(usd(2.5, 10));
  });

  test("a router's name through the SDK: sent as named, counted and priced as the model after its '/'", async () => {
    const header = await costOf({
      features: { chat: { maxInput: 100, maxOutput: 50, model: 'openai/gpt-4o-mini', dailyTokens: 1_000 } },
    });
    const [call] = t.upstream.calls;
    expect(call!.request.body.model).toBe('openai/gpt-4o-mini');
    expect(call!.promptTokens).toBe(countChatTokens([{ role: 'user', content: 'Hi' }], { model: 'gpt-4o-mini' }));
    expect(header).toBe(usd(0.15, 0.6));
    expect((await t.budget.store.usage(chatDailyScope(1_000))).used).toBe(call!.usage!.total_tokens);
  });

  test("inherited through prices: an override of gpt-4o's row reaches its alias", async () => {
    const header = await costOf({
      features: feature('prod'),
      models: { prod: 'gpt-4o' },
      prices: { 'gpt-4o': { input: 7, output: 21 } },
    });
    expect(header).toBe(usd(7, 21));
  });

  test("inherited, even where the alias's name has a published row of its own (a deployment named gpt-4 serving gpt-4o)", async () => {
    const header = await costOf({ features: feature('gpt-4'), models: { 'gpt-4': 'gpt-4o' } });
    expect(header).toBe(usd(2.5, 10));
  });

  test("the app's own price for the alias's name is kept", async () => {
    const header = await costOf({
      features: feature('prod'),
      models: { prod: 'gpt-4o' },
      prices: { prod: { input: 4, output: 16 } },
    });
    expect(header).toBe(usd(4, 16));
  });

  test("its own: the alias's prices", async () => {
    const header = await costOf({
      features: feature('prod'),
      models: { prod: { like: 'gpt-4o', prices: { input: 3, output: 11 } } },
    });
    expect(header).toBe(usd(3, 11));
  });

  test('the settled call names the alias', async () => {
    const models: string[] = [];
    t = await startTestApp({
      budget: { features: { chat: { ...feature('prod').chat, dailyTokens: 10_000 } }, models: { prod: 'gpt-4o' } },
      chain: (budget, client) => [
        budget.featureBudget('chat'),
        (req, _res, next) => {
          req.tokenBudget!.afterSettle((call) => models.push(call.model));
          next();
        },
        budget.llmHandler({ client }),
      ],
    });
    await request(t.app)
      .post('/chat')
      .send({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(models).toEqual(['prod']);
    expect(t.upstream.calls[0].request.body.model).toBe('prod');
  });
});
