// Downgrade over HTTP: when a quota or the money left runs low, the call goes to the cheaper model, counted, capped and priced as it.
import express from 'express';
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens, createTokenBudget, TokenBudgetConfigError, type TokenBudget } from '../../lib';
import { startOfflineUpstream, type OfflineUpstream } from '../../lib/testing';
import type { BudgetContext } from '../../lib/context';
import type { ShadowEvent, TokenBudgetOptions } from '../../lib/types';
import { meterScope } from '../costMeter/money';

/** Text that the two encodings count apart: cl100k_base (gpt-4-turbo) takes more tokens for it than o200k_base. */
const TEXT = 'Приветствую всех участников сегодняшней встречи. '.repeat(3);
const MESSAGES = [{ role: 'user' as const, content: TEXT }];
const TURBO_TOKENS = countChatTokens(MESSAGES, { model: 'gpt-4-turbo' });
const MINI_TOKENS = countChatTokens(MESSAGES, { model: 'gpt-4o-mini' });

const features: TokenBudgetOptions['features'] = {
  chat: {
    maxInput: 500,
    maxOutput: 50,
    model: 'gpt-4-turbo',
    downgrade: [{ model: 'gpt-4o-mini', when: { remainingBelow: 0.3, remainingUsdBelow: 0.005 } }],
  },
};

interface DowngradeApp {
  app: express.Express;
  budget: TokenBudget;
  upstream: OfflineUpstream;
  events: ShadowEvent[];
}

let upstream: OfflineUpstream | undefined;
afterEach(() => upstream?.close());

/** POST /chat: featureBudget → userQuota (`userLimit`) → team quota of 10,000 → costMeter → llmHandler answering the context's figures; `mode` is the budget's. */
async function downgradeApp(
  userLimit: number,
  { mode, hourlyCapUsd }: { mode?: 'shadow'; hourlyCapUsd?: number } = {},
): Promise<DowngradeApp> {
  upstream = await startOfflineUpstream({ completionTokens: () => 20 });
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: upstream.baseURL, maxRetries: 0 });
  const events: ShadowEvent[] = [];
  const budget = createTokenBudget({ features, mode, onShadow: (event) => events.push(event) });
  const app = express();
  app.use(express.json());
  app.post(
    '/chat',
    budget.featureBudget('chat'),
    budget.userQuota({ user: (req) => req.get('x-user'), limits: userLimit }),
    budget.quota({ name: 'team', key: () => 'acme', limits: 10_000 }),
    budget.costMeter({ hourlyCapUsd, costHeader: true }),
    budget.llmHandler({
      client,
      respond: (completion, req) => {
        const { model, inputTokens, outputCap, degraded } = req.tokenBudget as BudgetContext;
        return { completion, model, inputTokens, outputCap, degraded };
      },
    }),
  );
  app.use(budget.errorHandler());
  return { app, budget, upstream, events };
}

const chat = (app: express.Express) => request(app).post('/chat').set('x-user', 'alice').send({ messages: MESSAGES });

test('the encodings count the test text apart', () => {
  expect(TURBO_TOKENS).toBeGreaterThan(MINI_TOKENS);
});

test("below 30% of the user's quota left, the call goes to gpt-4o-mini, counted and priced as it", async () => {
  // Two calls at the feature's model use 2 × (input + 20) of 2.7 × that: 0.7 of a call's worth is left, 26%.
  const perCall = TURBO_TOKENS + 20;
  const limit = Math.floor(perCall * 2.7);
  const { app, budget } = await downgradeApp(limit);
  for (let i = 0; i < 2; i++) {
    const res = await chat(app).expect(200);
    expect(res.body).toMatchObject({ model: 'gpt-4-turbo', inputTokens: TURBO_TOKENS });
    expect(res.body.degraded).toBeUndefined();
    expect(res.headers['token-budget-downgrade']).toBeUndefined();
  }
  const res = await chat(app).expect(200);
  expect(upstream!.calls.map((call) => call.request.body.model)).toEqual(['gpt-4-turbo', 'gpt-4-turbo', 'gpt-4o-mini']);
  expect(res.headers['token-budget-downgrade']).toBe('gpt-4o-mini');
  const left = limit - 2 * perCall;
  expect(res.body).toMatchObject({
    model: 'gpt-4o-mini',
    inputTokens: MINI_TOKENS,
    degraded: {
      strategy: 'downgrade',
      droppedMessages: 0,
      originalTokens: TURBO_TOKENS,
      downgrade: { from: 'gpt-4-turbo', to: 'gpt-4o-mini', scope: 'user', remaining: left, limit },
    },
  });
  // The upstream billed what token-budget counted for gpt-4o-mini, and the user quota took exactly that.
  expect(upstream!.calls[2]!.usage).toEqual({
    prompt_tokens: MINI_TOKENS,
    completion_tokens: 20,
    total_tokens: MINI_TOKENS + 20,
  });
  expect(await budget.usage.user('alice')).toMatchObject({ used: 2 * perCall + MINI_TOKENS + 20 });
  // Priced at gpt-4o-mini's $0.15 / $0.60 per 1M tokens, not gpt-4-turbo's $10 / $30.
  expect(res.headers['x-token-budget-cost-usd']).toBe(((MINI_TOKENS * 0.15 + 20 * 0.6) / 1e6).toFixed(9));
  // The meter's spend took it at those prices too.
  const turboNanos = 2 * (TURBO_TOKENS * 10_000 + 20 * 30_000);
  const [spent] = await budget.store.spentAt!(meterScope('hour'), [Date.now()]);
  expect(spent).toBe(turboNanos + MINI_TOKENS * 150 + 20 * 600);
});

test('less than $0.005 left under the hourly spend cap downgrades too, and the cap is weighed at the cheaper prices', async () => {
  // One gpt-4-turbo call costs input × $10/M + 20 × $30/M; a cap that leaves less than $0.005 after it.
  const turboCost = (TURBO_TOKENS * 10 + 20 * 30) / 1e6;
  const { app } = await downgradeApp(100_000, { hourlyCapUsd: turboCost + 0.004 });
  // The first call's worst case (input + 50 output) must fit: $0.004 covers the 30 output tokens more.
  await chat(app).expect(200);
  const res = await chat(app).expect(200);
  expect(res.body.degraded.downgrade).toMatchObject({ scope: 'spend', to: 'gpt-4o-mini', remaining: 4_000_000 });
  // gpt-4o-mini's worst case, MINI_TOKENS × 150 + 50 × 600 nano-USD, fits in what was left: the full output cap.
  expect(res.body.outputCap).toBe(50);
});

test('in shadow mode the call stays on the feature model, and the downgrade is reported', async () => {
  const perCall = TURBO_TOKENS + 20;
  const { app, events } = await downgradeApp(Math.floor(perCall * 2.7), { mode: 'shadow' });
  await chat(app).expect(200);
  await chat(app).expect(200);
  const res = await chat(app).expect(200);
  // Shadow mode judges each budget at the feature's model: the quota that the downgrade would have
  // spared says it would have refused gpt-4-turbo.
  expect(res.headers['token-budget-shadow']).toBe('downgrade, user_quota_exceeded');
  expect(res.headers['token-budget-downgrade']).toBeUndefined();
  expect(upstream!.calls.map((call) => call.request.body.model)).toEqual(['gpt-4-turbo', 'gpt-4-turbo', 'gpt-4-turbo']);
  expect(events.map(({ action, code, scope }) => ({ action, code, scope }))).toEqual([
    { action: 'degrade', code: 'downgrade', scope: 'user' },
    { action: 'refuse', code: 'user_quota_exceeded', scope: 'user' },
  ]);
});

describe('configuration', () => {
  const withRule =
    (rule: unknown, extra: Partial<TokenBudgetOptions> = {}) =>
    () =>
      createTokenBudget({
        features: { chat: { maxInput: 100, maxOutput: 50, model: 'gpt-4o', downgrade: [rule as never] } },
        ...extra,
      });

  test.each([
    [{ model: 'gpt-4o-mini' }, 'features.chat.downgrade[0].when must be an object, e.g. { remainingBelow: 0.2 }.'],
    [
      { model: 'gpt-4o-mini', when: {} },
      'features.chat.downgrade[0].when needs at least one of remainingBelow, remainingTokensBelow, remainingUsdBelow.',
    ],
    [
      { model: 'gpt-4o-mini', when: { remainingBelow: 20 } },
      'features.chat.downgrade[0].when.remainingBelow must be a fraction of the limit, above 0 and at most 1; got 20.',
    ],
    [null, 'features.chat.downgrade[0] must be { model, when }.'],
    ['gpt-4o-mini', 'features.chat.downgrade[0] must be { model, when }.'],
    [{ model: 'gpt-4o-mini', when: null }, 'features.chat.downgrade[0].when must be an object, e.g. { remainingBelow: 0.2 }.'],
    [
      { model: 'gpt-4o-mini', when: { remainingBelow: 0 } },
      'features.chat.downgrade[0].when.remainingBelow must be a fraction of the limit, above 0 and at most 1; got 0.',
    ],
    [
      { model: 'gpt-4o-mini', when: { remainingBelow: '0.2' } },
      'features.chat.downgrade[0].when.remainingBelow must be a fraction of the limit, above 0 and at most 1; got "0.2".',
    ],
    [
      { model: 'gpt-4o-mini', when: { remainingTokensBelow: 0 } },
      'features.chat.downgrade[0].when.remainingTokensBelow must be a positive integer; got 0.',
    ],
    [
      { model: 'gpt-4o-mini', when: { remainingTokensBelow: 2.5 } },
      'features.chat.downgrade[0].when.remainingTokensBelow must be a positive integer; got 2.5.',
    ],
    [
      { model: 'gpt-4o-mini', when: { remainingUsdBelow: 0 } },
      'features.chat.downgrade[0].when.remainingUsdBelow must be a positive amount of USD; got 0.',
    ],
    [
      { model: 'gpt-4o-mini', when: { remainingUsdBelow: Infinity } },
      'features.chat.downgrade[0].when.remainingUsdBelow must be a positive amount of USD; got null.',
    ],
    [
      { model: 'gpt-4o-mini', when: { remainingUsdBelow: '1' } },
      'features.chat.downgrade[0].when.remainingUsdBelow must be a positive amount of USD; got "1".',
    ],
  ])('%j is refused', (rule, message) => {
    expect(withRule(rule)).toThrow(new TokenBudgetConfigError('TB_INVALID_OPTION', message));
  });

  test('a rule list that is no array is refused', () => {
    const build = () =>
      createTokenBudget({ features: { chat: { maxInput: 100, maxOutput: 50, model: 'gpt-4o', downgrade: {} as never } } });
    expect(build).toThrow(
      new TokenBudgetConfigError('TB_INVALID_OPTION', 'features.chat.downgrade must be an array of { model, when }.'),
    );
  });

  test.each([{ remainingBelow: 1 }, { remainingTokensBelow: 1 }, { remainingUsdBelow: 0.000001 }])(
    'the smallest and largest conditions are accepted: %j',
    (when) => {
      expect(withRule({ model: 'gpt-4o-mini', when })).not.toThrow();
    },
  );

  test('an unknown model is refused as the feature model would be', () => {
    expect(withRule({ model: 'cheap-llm', when: { remainingBelow: 0.2 } })).toThrow(
      /^features\.chat\.downgrade\[0\]\.model\b.*\[TB_UNKNOWN_MODEL\]$/,
    );
  });

  test("a cheaper model whose context cannot hold maxInput + maxOutput is refused; the output cap is the model's limit at most", () => {
    const build = (maxInput: number, maxOutput: number) =>
      createTokenBudget({
        features: {
          chat: { maxInput, maxOutput, model: 'gpt-4o', downgrade: [{ model: 'gpt-3.5-turbo', when: { remainingBelow: 0.2 } }] },
        },
      });
    // gpt-3.5-turbo: a 16,385-token context, 4,096 output tokens at most.
    expect(() => build(12_000, 10_000)).not.toThrow();
    // 12,289 + 4,096 fill the context exactly.
    expect(() => build(12_289, 10_000)).not.toThrow();
    expect(() => build(14_000, 2_500)).toThrow(
      new TokenBudgetConfigError(
        'TB_OVER_CONTEXT',
        'features.chat.downgrade[0]: maxInput 14000 + maxOutput 2500 is more than the 16385-token context window of gpt-3.5-turbo; the API would refuse such a call.',
      ),
    );
  });

  test('a costMeter refuses a cheaper model without a price', () => {
    const budget = withRule({ model: 'in-house', when: { remainingBelow: 0.2 } }, { models: { 'in-house': 'gpt-4o-mini' } })();
    expect(() => budget.costMeter()).not.toThrow();
    const unpriced = withRule({ model: 'local-llm', when: { remainingBelow: 0.2 } }, { unknownModelEncoding: 'o200k_base' })();
    expect(() => unpriced.costMeter()).toThrow(/TB_UNPRICED_MODEL/);
  });
});
