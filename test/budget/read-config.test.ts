// readConfig read directly: its defaults, the limits at their edges, the store it wraps and the events it forwards to observers.
import type { ShadowEvent } from '../../lib';
import { readConfig } from '../../lib/config';
import { memoryStore } from '../../lib/store/memory';
import { StoreUnavailableError } from '../../lib/store/unavailable';
import type { ScopeRequest, SettleReport, Store } from '../../lib/store/types';
import { configError } from '../helpers/config-error';

const chat = { maxInput: 100, maxOutput: 50, model: 'gpt-4o' };
const quiet = { onWarning: () => {} };

test('the defaults of every option a budget reads', () => {
  const config = readConfig({ features: { chat } });
  expect(config).toMatchObject({
    onStoreUnavailable: 'fallback',
    mode: 'enforce',
    maxMessages: 1000,
    calls: { callTimeoutMs: 600_000, leaseMarginMs: 60_000, onClientGone: 'finish', onMissingUsage: 'charge' },
  });
  expect(config.features.get('chat')).toMatchObject({
    name: 'chat',
    model: 'gpt-4o',
    maxInput: 100,
    maxOutput: 50,
    dailyTokens: undefined,
    onStoreUnavailable: 'fallback',
    onExceed: 'reject',
    messages: undefined,
    downgrade: [],
    summarizer: undefined,
  });
});

test('options given are kept', () => {
  const onShadow = (_event: ShadowEvent) => {};
  const config = readConfig({
    features: { chat: { ...chat, dailyTokens: 5_000, onStoreUnavailable: 'fail-closed' } },
    onStoreUnavailable: 'fail-open',
    mode: 'shadow',
    onShadow,
    maxMessages: 7,
    callTimeoutMs: 1_000,
    leaseMarginMs: 2_000,
    onClientGone: 'abort',
    onMissingUsage: 'count-reply',
  });
  expect(config).toMatchObject({
    onStoreUnavailable: 'fail-open',
    mode: 'shadow',
    onShadow,
    maxMessages: 7,
    calls: { callTimeoutMs: 1_000, leaseMarginMs: 2_000, onClientGone: 'abort', onMissingUsage: 'count-reply' },
  });
  expect(config.features.get('chat')).toMatchObject({ dailyTokens: 5_000, onStoreUnavailable: 'fail-closed' });
});

test('without onShadow, a shadow event is one warning per code through onWarning', () => {
  const warnings: string[] = [];
  const config = readConfig({ features: { chat }, onWarning: (w) => void warnings.push(w.code) });
  const event: ShadowEvent = { action: 'degrade', code: 'truncate', feature: 'chat', message: 'Too long.' };
  config.onShadow(event);
  config.onShadow(event);
  expect(warnings).toEqual(['TB_SHADOW_TRUNCATE']);
});

describe("a feature's limits at the model's edges", () => {
  test("maxOutput may be the model's own most, not one more", () => {
    expect(readConfig({ ...quiet, features: { chat: { ...chat, maxOutput: 16_384 } } }).features.get('chat')!.maxOutput).toBe(
      16_384,
    );
    const err = configError(() => readConfig({ ...quiet, features: { chat: { ...chat, maxOutput: 16_385 } } }));
    expect(err.message).toBe(
      'features.chat.maxOutput is 16385, but gpt-4o produces at most 16384 output tokens. [TB_OUTPUT_OVER_MODEL_LIMIT]',
    );
  });

  test("maxInput may be the model's input limit, not one more", () => {
    const gpt5 = { maxOutput: 1_000, model: 'gpt-5' };
    expect(readConfig({ ...quiet, features: { chat: { ...gpt5, maxInput: 272_000 } } }).features.get('chat')!.maxInput).toBe(
      272_000,
    );
    const err = configError(() => readConfig({ ...quiet, features: { chat: { ...gpt5, maxInput: 272_001 } } }));
    expect(err.message).toBe(
      'features.chat.maxInput is 272001, but gpt-5 takes at most 272000 input tokens (of its 400000-token context). [TB_OVER_INPUT_LIMIT]',
    );
  });

  test('input and output may fill the context window, not pass it', () => {
    const err = configError(() =>
      readConfig({ ...quiet, features: { chat: { maxInput: 111_617, maxOutput: 16_384, model: 'gpt-4o' } } }),
    );
    expect(err.message).toBe(
      'features.chat: maxInput 111617 + maxOutput 16384 is more than the 128000-token context window of gpt-4o; the API would refuse such a call. [TB_OVER_CONTEXT]',
    );
  });
});

describe('mistakes in the shape of the options', () => {
  test.each<[string, unknown, string]>([
    ['no options object', null, 'createTokenBudget needs an options object. [TB_INVALID_OPTION]'],
    ['a feature that is no object', { features: { chat: null } }, 'features.chat must be an object. [TB_INVALID_OPTION]'],
    [
      'an empty model name',
      { features: { chat: { ...chat, model: '' } } },
      'features.chat.model must be a model name. [TB_INVALID_OPTION]',
    ],
    [
      'a model that is no string',
      { features: { chat: { ...chat, model: 4 } } },
      'features.chat.model must be a model name. [TB_INVALID_OPTION]',
    ],
    [
      'an unknown encoding',
      { features: { chat }, unknownModelEncoding: 'p50k_base' },
      'unknownModelEncoding must be one of o200k_base, cl100k_base; got "p50k_base". [TB_INVALID_OPTION]',
    ],
  ])('%s', (_what, options, message) => {
    expect(configError(() => readConfig(options as never)).message).toBe(message);
  });

  test('an unknown model is counted with a given encoding', () => {
    const config = readConfig({ features: { chat: { ...chat, model: 'my-llm' } }, unknownModelEncoding: 'cl100k_base' });
    expect(config.features.get('chat')!.modelInfo.encoding).toBe('cl100k_base');
  });

  test.each(['reserve', 'settle', 'release', 'usage'])('a store without %s is not a Store', (method) => {
    const store: Record<string, unknown> = { reserve() {}, settle() {}, release() {}, usage() {} };
    delete store[method];
    expect(configError(() => readConfig({ features: { chat }, store: store as never })).message).toBe(
      'store must be a Store, e.g. memoryStore() or redisStore(client). [TB_INVALID_OPTION]',
    );
  });

  test('a store that is no object is not a Store', () => {
    expect(configError(() => readConfig({ features: { chat }, store: 'redis' as never })).code).toBe('TB_INVALID_OPTION');
  });
});

describe('the store', () => {
  const scope: ScopeRequest = {
    kind: 'feature',
    key: 'f:{chat}',
    limit: 10,
    window: { kind: 'sliding', windowMs: 60_000, bucketMs: 1_000 },
    onUnavailable: 'fail-open',
  };

  test('a memory store the app made is used as it is, and its late spend reaches the observers', () => {
    let tell: ((report: SettleReport) => void) | undefined;
    const store = Object.assign(memoryStore(), {
      onLateSpend: (listener: (report: SettleReport) => void) => void (tell = listener),
    });
    const config = readConfig({ features: { chat }, store });
    expect(config.store).toBe(store);
    const heard: SettleReport[] = [];
    config.observers.add({ lateSpend: (report) => void heard.push(report) });
    const report: SettleReport = { spent: [] };
    tell!(report);
    expect(heard).toEqual([report]);
  });

  test('any other store is wrapped in the outage policies, whose errors reach onStoreError and the observers', async () => {
    const down = async (): Promise<never> => {
      throw new StoreUnavailableError('connection refused');
    };
    const store: Store = { reserve: down, settle: down, release: down, usage: down };
    const told: Error[] = [];
    const config = readConfig({ features: { chat }, store, onStoreError: (err) => void told.push(err) });
    expect(config.store).not.toBe(store);
    const heard: Error[] = [];
    config.observers.add({ storeError: (err) => void heard.push(err) });
    await config.store.usage(scope);
    expect(told).toHaveLength(1);
    expect(heard).toEqual(told);
    await config.store.close?.();
  });
});
