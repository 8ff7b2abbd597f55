// readConfig read directly: each mistake's message names the option it is about, aliases resolve, a downgrade keeps the feature's figures.
import { readConfig } from '../../lib/config';
import { lookupModel } from '../../lib/tokens/models';
import { configError } from '../helpers/config-error';

const chat = { maxInput: 100, maxOutput: 50, model: 'gpt-4o' };
const quiet = { onWarning: () => {} };

/** The message of the configuration error that `options` make. */
const messageOf = (options: unknown) => configError(() => readConfig(options as never)).message;

describe('a mistake is told by the name of its option', () => {
  test.each<[string, Record<string, unknown>]>([
    ['onWarning', { onWarning: 'log' }],
    ['onStoreError', { onStoreError: 'log' }],
    ['mode', { mode: 'loud' }],
    ['onShadow', { onShadow: 'log' }],
    ['maxMessages', { maxMessages: 0 }],
    ['options.errors', { errors: 'throw' }],
    ['callTimeoutMs', { callTimeoutMs: -1 }],
    ['leaseMarginMs', { leaseMarginMs: 1.5 }],
    ['onClientGone', { onClientGone: 'stay' }],
  ])('%s', (name, option) => {
    expect(messageOf({ ...quiet, features: { chat }, ...option })).toMatch(new RegExp(`^${name.replace('.', '\\.')}\\b`));
  });

  test.each<[string, Record<string, unknown>]>([
    ['features.chat.onStoreUnavailable', { onStoreUnavailable: 'ignore' }],
    ['features.chat.messages', { messages: 'body.messages' }],
    ['features.chat.downgrade', { downgrade: 'gpt-4o-mini' }],
  ])('%s', (name, option) => {
    expect(messageOf({ ...quiet, features: { chat: { ...chat, ...option } } })).toMatch(
      new RegExp(`^${name.replace(/\./g, '\\.')}\\b`),
    );
  });
});

describe('values that are no object', () => {
  test('options given as a string', () => {
    expect(messageOf('chat')).toBe('createTokenBudget needs an options object. [TB_INVALID_OPTION]');
  });

  test('a feature given as a string', () => {
    expect(messageOf({ features: { chat: 'gpt-4o' } })).toBe('features.chat must be an object. [TB_INVALID_OPTION]');
  });

  test('a null store, and a function that has the methods of a Store', () => {
    const store = 'store must be a Store, e.g. memoryStore() or redisStore(client). [TB_INVALID_OPTION]';
    expect(messageOf({ features: { chat }, store: null })).toBe(store);
    const callable = Object.assign(() => {}, { reserve() {}, settle() {}, release() {}, usage() {} });
    expect(messageOf({ features: { chat }, store: callable })).toBe(store);
  });
});

test("a feature's model named in models is the model it names", () => {
  const config = readConfig({
    ...quiet,
    features: { chat: { ...chat, model: 'house-model' } },
    models: { 'house-model': 'gpt-4o' },
  });
  expect(config.features.get('chat')).toMatchObject({ model: 'house-model', modelInfo: lookupModel('gpt-4o') });
});

test("a downgrade step's model is resolved, its output capped at the feature's", () => {
  const config = readConfig({
    ...quiet,
    features: { chat: { ...chat, downgrade: [{ model: 'gpt-4o-mini', when: { remainingBelow: 0.2 } }] } },
  });
  expect(config.features.get('chat')!.downgrade).toEqual([
    { model: 'gpt-4o-mini', modelInfo: lookupModel('gpt-4o-mini'), maxOutput: 50, when: { remainingBelow: 0.2 } },
  ]);
});
