// A misspelt option name is a configuration error (TB_UNKNOWN_OPTION) everywhere options are read, never ignored.
import OpenAI from 'openai';
import { createTokenBudget, memoryStore, redisStore, TokenBudgetConfigError, type TokenBudgetOptions } from '../../lib';
import { createTokenBudget as createKoaTokenBudget } from '../../lib/koa';
import { startOfflineUpstream } from '../../lib/testing';

const features = { chat: { maxInput: 1000, maxOutput: 100, model: 'gpt-4o' } };
const client = new OpenAI({ apiKey: 'offline', baseURL: 'http://127.0.0.1:9/v1' });
/** Options as plain JavaScript passes them: TypeScript would refuse the misspelling before it ran. */
const untyped = <T>(options: object) => options as T;

const budget = () => createTokenBudget({ features });
const unknownOption = (message: string) => new TokenBudgetConfigError('TB_UNKNOWN_OPTION', message);

test.each<[string, () => unknown, string]>([
  [
    // The case that motivated the check: without it the feature ran with no daily limit at all.
    'a feature',
    () => createTokenBudget({ features: { chat: { ...features.chat, ...untyped({ dailyToken: 5000 }) } } }),
    'features.chat.dailyToken is not an option; did you mean dailyTokens?',
  ],
  [
    'createTokenBudget',
    () => createTokenBudget(untyped<TokenBudgetOptions>({ features, mod: 'shadow' })),
    'mod is not an option; did you mean mode?',
  ],
  [
    'createTokenBudget, a name with another case',
    () => createTokenBudget(untyped<TokenBudgetOptions>({ features, callTimeoutMS: 5000 })),
    'callTimeoutMS is not an option; did you mean callTimeoutMs?',
  ],
  [
    // Prices are read where money is tracked: here, when the meter is mounted.
    'a price row',
    () => createTokenBudget({ features, prices: { 'gpt-4o': untyped({ input: 2.5, output: 10, cached: 1.25 }) } }).costMeter(),
    'prices["gpt-4o"].cached is not an option; expected one of input, cachedInput, output.',
  ],
  [
    'a model alias',
    () => createTokenBudget({ features, models: { mine: untyped({ like: 'gpt-4o', maxOutputs: 100 }) } }),
    'models["mine"].maxOutputs is not an option; did you mean maxOutput?',
  ],
  [
    'a downgrade rule',
    () =>
      createTokenBudget({
        features: {
          chat: { ...features.chat, downgrade: [untyped({ model: 'gpt-4o-mini', when: { remainingBelow: 0.2 }, whn: 1 })] },
        },
      }),
    'features.chat.downgrade[0].whn is not an option; did you mean when?',
  ],
  [
    'a downgrade condition',
    () =>
      createTokenBudget({
        features: { chat: { ...features.chat, downgrade: [{ model: 'gpt-4o-mini', when: untyped({ remaining: 0.2 }) }] } },
      }),
    'features.chat.downgrade[0].when.remaining is not an option; expected one of remainingBelow, remainingTokensBelow, remainingUsdBelow.',
  ],
  [
    'a summarizer',
    () =>
      createTokenBudget({
        features: {
          chat: {
            ...features.chat,
            onExceed: 'summarize',
            summarizer: untyped({ client, model: 'gpt-4o-mini', maxInput: 500, maxOutput: 50, timeout: 5000 }),
          },
        },
      }),
    'features.chat.summarizer.timeout is not an option; did you mean timeoutMs?',
  ],
  [
    'featureBudget',
    () => budget().featureBudget('chat', untyped({ onExeed: 'truncate' })),
    'featureBudget("chat").onExeed is not an option; did you mean onExceed?',
  ],
  [
    'userQuota',
    () => budget().userQuota(untyped({ user: () => 'ann', limits: 10_000, peroid: 'month' })),
    'userQuota.peroid is not an option; did you mean period?',
  ],
  [
    'quota',
    () => budget().quota(untyped({ name: 'team', key: () => 't1', limits: 10_000, timezone: 'Europe/Paris' })),
    'quota("team").timezone is not an option; did you mean timeZone?',
  ],
  [
    'globalTpm',
    () => budget().globalTpm(untyped({ limit: 100_000, header: true })),
    'globalTpm.header is not an option; did you mean headers?',
  ],
  [
    'costMeter',
    () => budget().costMeter(untyped({ hourlyCapUSD: 200 })),
    'costMeter("spend").hourlyCapUSD is not an option; did you mean hourlyCapUsd?',
  ],
  [
    "a cost meter's spike rule",
    () => budget().costMeter(untyped({ spike: { factor: 3, minUSD: 5 } })),
    'costMeter("spend").spike.minUSD is not an option; did you mean minUsd?',
  ],
  [
    "a cost meter's webhook",
    () => budget().costMeter(untyped({ webhook: { url: 'https://alerts.example/hook', backoff: 100 } })),
    'costMeter("spend").webhook.backoff is not an option; did you mean backoffMs?',
  ],
  [
    'llmHandler',
    () => budget().llmHandler(untyped({ client, timeout: 5000 })),
    'llmHandler.timeout is not an option; did you mean timeoutMs?',
  ],
  [
    'featureFlag',
    () => budget().featureFlag('chat', untyped({ defaults: false })),
    'featureFlag("chat").defaults is not an option; did you mean default?',
  ],
  [
    'usageHandler',
    () => {
      const b = budget();
      b.userQuota({ user: () => 'ann', limits: 10_000 });
      return b.usageHandler(untyped({ quotas: 'user' }));
    },
    'usageHandler.quotas is not an option; did you mean quota?',
  ],
  ['metrics', () => budget().metrics(untyped({ prefixes: 'app_' })), 'metrics.prefixes is not an option; did you mean prefix?'],
  [
    'adminRouter',
    () => budget().adminRouter(untyped({ authorize: () => true, authorise: () => true })),
    'adminRouter.authorise is not an option; did you mean authorize?',
  ],
  [
    'errors and onReject, shared by the middlewares',
    () => budget().globalTpm(untyped({ limit: 100_000, error: 'next' })),
    'globalTpm.error is not an option; did you mean errors?',
  ],
  [
    'memoryStore',
    () => memoryStore(untyped({ sweepIntervalMS: 1000 })),
    'memoryStore.sweepIntervalMS is not an option; did you mean sweepIntervalMs?',
  ],
  [
    'redisStore, before it touches the client',
    () => redisStore({} as never, untyped({ timeout: 500 })),
    'redisStore.timeout is not an option; did you mean timeoutMs?',
  ],
  [
    'the Koa entry',
    () =>
      createKoaTokenBudget(untyped<Parameters<typeof createKoaTokenBudget>[0]>({ features, onStoreUnavailble: 'fail-closed' })),
    'onStoreUnavailble is not an option; did you mean onStoreUnavailable?',
  ],
])('%s: a misspelt option is refused with TB_UNKNOWN_OPTION', (_where, build, message) => {
  expect(build).toThrow(unknownOption(message));
  try {
    build();
  } catch (err) {
    expect((err as TokenBudgetConfigError).code).toBe('TB_UNKNOWN_OPTION');
  }
});

test('a name far from every option lists them all', () => {
  expect(() => budget().globalTpm(untyped({ limit: 100_000, burst: 10 }))).toThrow(
    unknownOption(
      'globalTpm.burst is not an option; expected one of limit, name, headers, onStoreUnavailable, mode, errors, onReject.',
    ),
  );
});

test('a budget file spread into createTokenBudget is read: its quotas, global limit and meter are the routes’ options', () => {
  const file = {
    $schema: './node_modules/token-budget/budget.schema.json',
    features,
    quotas: { user: { limits: { free: 10_000 } } },
    globalTpm: { limit: 100_000 },
    costMeter: { hourlyCapUsd: 50 },
  };
  expect(() => createTokenBudget({ ...file, store: memoryStore() })).not.toThrow();
});

test('the offline upstream refuses a misspelt option too (a test would otherwise stage nothing)', async () => {
  await expect(startOfflineUpstream(untyped({ chunkInterval: 5 }))).rejects.toThrow(
    unknownOption('startOfflineUpstream.chunkInterval is not an option; did you mean chunkIntervalMs?'),
  );
});
