// Configuration mistakes throw at start-up with a stable code and a sentence that names the option.
import express from 'express';
import OpenAI from 'openai';
import request from 'supertest';
import { countChatTokens, countTokens, createTokenBudget, TokenBudgetConfigError, type BudgetWarning } from '../../lib';
import { lookupModel } from '../../lib/tokens/models';
import { configError } from '../helpers/config-error';
import { startTestApp, type TestApp } from '../helpers/app';

const chat = { maxInput: 100, maxOutput: 50, model: 'gpt-4o' };

const cases: Array<[string, () => unknown, string, RegExp]> = [
  ['no features', () => createTokenBudget({ features: {} }), 'TB_INVALID_OPTION', /at least one feature/],
  [
    'unknown model',
    () => createTokenBudget({ features: { chat: { ...chat, model: 'gpt-17' } } }),
    'TB_UNKNOWN_MODEL',
    /features\.chat\.model "gpt-17"/,
  ],
  [
    'negative maxInput',
    () => createTokenBudget({ features: { chat: { ...chat, maxInput: -5 } } }),
    'TB_INVALID_LIMIT',
    /features\.chat\.maxInput .* got -5/,
  ],
  [
    'fractional maxOutput',
    () => createTokenBudget({ features: { chat: { ...chat, maxOutput: 1.5 } } }),
    'TB_INVALID_LIMIT',
    /maxOutput/,
  ],
  [
    'zero dailyTokens',
    () => createTokenBudget({ features: { chat: { ...chat, dailyTokens: 0 } } }),
    'TB_INVALID_LIMIT',
    /dailyTokens/,
  ],
  [
    'maxOutput over the model limit',
    () => createTokenBudget({ features: { chat: { ...chat, model: 'gpt-4', maxOutput: 10_000 } } }),
    'TB_OUTPUT_OVER_MODEL_LIMIT',
    /gpt-4 produces at most 8192/,
  ],
  [
    'a feature name with a colon',
    () => createTokenBudget({ features: { 'a:b': chat } }),
    'TB_INVALID_OPTION',
    /feature name "a:b"/,
  ],
  [
    'a bad onExceed',
    () => createTokenBudget({ features: { chat: { ...chat, onExceed: 'shorten' as never } } }),
    'TB_INVALID_OPTION',
    /onExceed/,
  ],
  [
    'a bad outage policy',
    () => createTokenBudget({ features: { chat }, onStoreUnavailable: 'retry' as never }),
    'TB_INVALID_OPTION',
    /onStoreUnavailable/,
  ],
  [
    'a store that is not one',
    () => createTokenBudget({ features: { chat }, store: {} as never }),
    'TB_INVALID_OPTION',
    /store must be a Store/,
  ],
  [
    'an unknown feature',
    () => createTokenBudget({ features: { chat } }).featureBudget('chta'),
    'TB_UNKNOWN_FEATURE',
    /"chta".*known: chat/,
  ],
  [
    'userQuota without user',
    () => createTokenBudget({ features: { chat } }).userQuota({ limits: 10 } as never),
    'TB_INVALID_OPTION',
    /user: req => id/,
  ],
  [
    'userQuota with no options at all',
    () => createTokenBudget({ features: { chat } }).userQuota(undefined as never),
    'TB_INVALID_OPTION',
    /^userQuota needs \{ user: req => id \}: the id must come from the app \(e\.g\. req\.user\), not the client\./,
  ],
  [
    'userQuota with a negative tier',
    () => createTokenBudget({ features: { chat } }).userQuota({ user: () => 'u', limits: { free: -1 } }),
    'TB_INVALID_LIMIT',
    /limits\.free/,
  ],
  [
    'userQuota in an unknown zone',
    () => createTokenBudget({ features: { chat } }).userQuota({ user: () => 'u', limits: 10, timeZone: 'Mars/Olympus' }),
    'TB_INVALID_OPTION',
    /Mars\/Olympus/,
  ],
  [
    'userQuota with an unknown period',
    () => createTokenBudget({ features: { chat } }).userQuota({ user: () => 'u', limits: 10, period: 'year' as never }),
    'TB_INVALID_OPTION',
    /period/,
  ],
  [
    'globalTpm without a limit',
    () => createTokenBudget({ features: { chat } }).globalTpm({} as never),
    'TB_INVALID_LIMIT',
    /globalTpm\.limit/,
  ],
  [
    'llmHandler without a client',
    () => createTokenBudget({ features: { chat } }).llmHandler({} as never),
    'TB_INVALID_OPTION',
    /client/,
  ],
  [
    'usageHandler before any userQuota',
    () => createTokenBudget({ features: { chat } }).usageHandler(),
    'TB_INVALID_OPTION',
    /userQuota/,
  ],
  ['countTokens with an unknown model', () => countTokens('hi', 'claude-9'), 'TB_UNKNOWN_MODEL', /claude-9/],
];

test.each(cases)('%s', (_name, make, code, message) => {
  const err = configError(make);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
});

test('an unknown model is counted with the configured fallback encoding', async () => {
  const t = await startTestApp({
    budget: { features: { chat: { ...chat, model: 'my-llama' } }, unknownModelEncoding: 'cl100k_base' },
    chain: (b, client) => [
      b.featureBudget('chat'),
      b.llmHandler({ client, respond: (_c, req) => ({ input: req.tokenBudget?.inputTokens }) }),
    ],
  });
  try {
    const messages = [{ role: 'user' as const, content: 'The quick brown fox: 12345 — ünïcödé' }];
    const res = await request(t.app).post('/chat').send({ messages });
    expect(res.status).toBe(200);
    expect(res.body.input).toBe(countChatTokens(messages, { model: 'gpt-4' }));
    expect(res.body.input).not.toBe(countChatTokens(messages, { model: 'gpt-4o' }));
    expect(t.upstream.calls[0]!.request.body.model).toBe('my-llama');
  } finally {
    await t.close();
  }
});

test('dated snapshots, point releases and fine-tunes resolve to their family', () => {
  for (const model of [
    'gpt-4o-2024-08-06',
    'gpt-4o-mini-2024-07-18',
    'gpt-4.1-nano',
    'gpt-5.1',
    'o4-mini-2025-04-16',
    'ft:gpt-4o-mini:acme::abc123',
  ]) {
    expect(() => createTokenBudget({ features: { chat: { ...chat, model } } })).not.toThrow();
  }
  // cl100k and o200k split this differently: the family decides the encoding.
  const text = 'The quick brown fox: 12345 — ünïcödé';
  expect(countTokens(text, 'gpt-4-0613')).toBe(countTokens(text, 'gpt-3.5-turbo'));
  expect(countTokens(text, 'gpt-4o-2024-08-06')).toBe(countTokens(text, 'gpt-5-mini'));
  expect([countTokens(text, 'gpt-4'), countTokens(text, 'gpt-4o')]).toEqual([16, 13]);
});

describe('error delivery', () => {
  let t: TestApp;
  afterEach(() => t?.close());
  const tooBig = { messages: [{ role: 'user', content: 'word '.repeat(300) }] };

  test('onReject of the budget shapes every error; a middleware’s own wins', async () => {
    t = await startTestApp({
      budget: { onReject: (err, _req, res) => void res.status(err.status).json({ budget: err.type }) },
      chain: (b, client) => [
        b.featureBudget('chat'),
        b.userQuota({
          user: () => undefined,
          limits: 10,
          onReject: (err, _req, res) => void res.status(err.status).json({ quota: err.type }),
        }),
        b.llmHandler({ client }),
      ],
    });
    expect((await request(t.app).post('/chat').send(tooBig)).body).toEqual({ budget: 'input_too_large' });
    expect(
      (
        await request(t.app)
          .post('/chat')
          .send({ messages: [{ role: 'user', content: 'hi' }] })
      ).body,
    ).toEqual({ quota: 'user_required' });
  });

  test("errors: 'next' hands the http-errors object to the app's error handler", async () => {
    const app = express();
    app.use(express.json());
    const budget = createTokenBudget({ features: { chat }, errors: 'next' });
    app.post(
      '/chat',
      budget.featureBudget('chat'),
      budget.llmHandler({ client: new OpenAI({ apiKey: 'x', baseURL: 'http://127.0.0.1:9/v1' }) }),
    );
    app.use(
      (
        err: { status: number; type: string; headers?: object; expose: boolean },
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        res.status(err.status).json({ mine: err.type, expose: err.expose });
      },
    );
    const res = await request(app).post('/chat').send(tooBig);
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ mine: 'input_too_large', expose: true });
  });
});

describe('the model table: context windows, snapshots, lookalikes', () => {
  const feature = (model: string, maxInput: number, maxOutput: number) => () =>
    createTokenBudget({ features: { chat: { model, maxInput, maxOutput } } });

  test.each([
    ['gpt-4', 8_000, 8_192, 8_192],
    ['gpt-3.5-turbo', 20_000, 100, 16_385],
    ['gpt-4o', 120_000, 16_384, 128_000],
    ['o1-preview', 100_000, 32_768, 128_000],
    ['gpt-5-chat-latest', 120_000, 10_000, 128_000],
    ['gpt-3.5-turbo-0301', 4_000, 100, 4_096],
  ])(
    '%s with maxInput %i + maxOutput %i is refused at start-up (context %i): TB_OVER_CONTEXT',
    (model, maxInput, maxOutput, context) => {
      const err = configError(feature(model, maxInput, maxOutput));
      expect(err.code).toBe('TB_OVER_CONTEXT');
      expect(err.message).toContain(`${context}-token context window of ${model}`);
    },
  );

  test('a feature that fills the context window exactly is accepted', () => {
    expect(() => feature('gpt-4', 4_096, 4_096)()).not.toThrow();
    expect(() => feature('gpt-4.1', 1_047_576 - 32_768, 32_768)()).not.toThrow();
    expect(() => feature('gpt-5', 272_000, 128_000)()).not.toThrow();
  });

  test.each(['gpt-5', 'gpt-5-mini', 'gpt-5-nano-2025-08-07', 'gpt-5.1', 'gpt-5.4', 'gpt-5.5'])(
    '%s takes at most 272,000 input tokens of its 400,000 (and never reaches the 2× tier above 272 K): TB_OVER_INPUT_LIMIT',
    (model) => {
      expect(() => feature(model, 272_000, 1_000)()).not.toThrow();
      const err = configError(feature(model, 272_001, 1_000));
      expect(err.code).toBe('TB_OVER_INPUT_LIMIT');
      expect(err.message).toContain('at most 272000 input tokens');
      expect(configError(feature(model, 272_000, 128_001)).code).toBe('TB_OUTPUT_OVER_MODEL_LIMIT');
    },
  );

  test.each([
    ['gpt-4o-2024-05-13', 4_096],
    ['gpt-4o-2024-08-06', 16_384],
    ['o1-preview-2024-09-12', 32_768],
    ['o1-mini', 65_536],
    ['gpt-5-chat-latest', 16_384],
    ['gpt-5.1-chat-latest', 16_384],
    ['gpt-4-1106-vision-preview', 4_096],
  ])('the snapshot %s resolves to its own output limit (%i)', (model, output) => {
    expect(() => feature(model, 1_000, output)()).not.toThrow();
    expect(configError(feature(model, 1_000, output + 1)).code).toBe('TB_OUTPUT_OVER_MODEL_LIMIT');
  });

  test.each(['gpt-4.1x', 'gpt-4.7', 'gpt-4o.5', 'gpt-5.x', 'o3x'])('%s only looks like a family: unknown', (model) => {
    expect(configError(feature(model, 100, 10)).code).toBe('TB_UNKNOWN_MODEL');
    expect(() => countTokens('hi', model)).toThrow(TokenBudgetConfigError);
  });

  test('a dated look-alike resolves to its family and warns once (TB_UNLISTED_SNAPSHOT); a listed snapshot does not warn', () => {
    const warningsFor = (...models: string[]) => {
      const warnings: BudgetWarning[] = [];
      const features = Object.fromEntries(models.map((model, i) => [`f${i}`, { model, maxInput: 1_000, maxOutput: 100 }]));
      createTokenBudget({ features, onWarning: (warning) => warnings.push(warning) });
      return warnings;
    };
    const warnings = warningsFor('gpt-4o-2099-01-01', 'gpt-4o-mini-0999', 'ft:gpt-4.1-2031-01-01:acme::1');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('TB_UNLISTED_SNAPSHOT');
    expect(warnings[0]!.message).toContain('"gpt-4o-2099-01-01" is not a listed snapshot of gpt-4o');
    expect(warningsFor('gpt-5.3-2099-01-01').map((w) => w.code)).toEqual(['TB_UNLISTED_SNAPSHOT']);
    expect(
      warningsFor(
        'gpt-4o-2024-08-06',
        'gpt-4-0613',
        'gpt-5.1-2025-11-13',
        'ft:gpt-4o-mini-2024-07-18:acme::1',
        'gpt-4o',
        'gpt-4o-mini-search',
      ),
    ).toEqual([]);
    expect(lookupModel('gpt-4o-2099-01-01')!.family).toBe('gpt-4o');
  });

  test('gpt-3.5-turbo-0301 follows its own framing: 4 per message, and a name replaces the role (−1)', () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, name: 'ann', content: 'Hello there' },
    ];
    const text = (s: string) => countTokens(s, 'gpt-3.5-turbo');
    const texts = text('system') + text('Be brief.') + text('user') + text('ann') + text('Hello there');
    expect(countChatTokens(messages, { model: 'gpt-3.5-turbo-0301' })).toBe(2 * 4 - 1 + texts + 3);
    expect(countChatTokens(messages, { model: 'gpt-3.5-turbo-0613' })).toBe(2 * 3 + 1 + texts + 3);
  });

  test.each([Number.NaN, -1, '10', null])('countChatTokens refuses a limit of %p', (limit) => {
    expect(() => countChatTokens([{ role: 'user', content: 'hi' }], { model: 'gpt-4o', limit: limit as never })).toThrow(
      /limit must be a number ≥ 0/,
    );
  });
});
