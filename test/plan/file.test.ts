// loadBudgetConfig: a budget file feeds createTokenBudget and the middlewares, and every mistake names the file, the field, what was expected and what was found.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTokenBudget, loadBudgetConfig, memoryStore, TokenBudgetConfigError } from '../../lib';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tb-budget-file-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let written = 0;
/** Writes `content` (JSON unless a string) to a new file and returns its path. */
function fileWith(content: unknown): string {
  const file = path.join(dir, `budgets-${++written}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const CHAT = { maxInput: 4000, maxOutput: 1000, model: 'gpt-4o' };

function loadError(file: string): TokenBudgetConfigError {
  try {
    loadBudgetConfig(file);
  } catch (err) {
    if (err instanceof TokenBudgetConfigError) return err;
    throw err;
  }
  throw new Error(`${file} loaded`);
}

test('a full file loads, and feeds createTokenBudget and the middlewares with the functions given in code', () => {
  const file = loadBudgetConfig(
    fileWith({
      $schema: './node_modules/token-budget/budget.schema.json',
      features: { chat: { ...CHAT, dailyTokens: 5_000_000, onExceed: 'truncate' } },
      maxMessages: 50,
      prices: { 'gpt-4o': { input: 2.5, output: 10 } },
      quotas: { user: { limits: { free: 10_000, pro: 100_000 }, period: 'day' }, team: { limits: 2_000_000 } },
      globalTpm: { limit: 1_000_000 },
      costMeter: { hourlyAlertUsd: [50, 100], dailyCapUsd: 500 },
    }),
  );
  expect(file.features.chat).toEqual({ ...CHAT, dailyTokens: 5_000_000, onExceed: 'truncate' });
  const budget = createTokenBudget({ ...file, store: memoryStore() });
  expect(() => {
    budget.featureBudget('chat');
    budget.userQuota({ ...file.quotas.user!, user: () => 'u1' });
    budget.quota({ ...file.quotas.team!, name: 'team', key: () => 't1' });
    budget.globalTpm(file.globalTpm!);
    budget.costMeter({ ...file.costMeter, onAlert: () => {} });
  }).not.toThrow();
});

test('quotas default to none; code options spread after the file win', () => {
  const file = loadBudgetConfig(fileWith({ features: { chat: CHAT } }));
  expect(file.quotas).toEqual({});
  const budget = createTokenBudget({ ...file, features: { other: CHAT } });
  expect(() => budget.featureBudget('other')).not.toThrow();
  expect(() => budget.featureBudget('chat')).toThrow(expect.objectContaining({ code: 'TB_UNKNOWN_FEATURE' }));
});

test.each([
  [
    'a wrong type',
    { features: { chat: { ...CHAT, maxInput: '4000' } } },
    'TB_INVALID_LIMIT',
    'features.chat.maxInput must be a positive integer; got "4000".',
  ],
  [
    'a misspelt option',
    { features: { chat: { ...CHAT, maxOutputs: 10 } } },
    'TB_UNKNOWN_OPTION',
    'features.chat.maxOutputs is not an option a budget file holds; expected one of maxInput, maxOutput, model, dailyTokens, onStoreUnavailable, onExceed',
  ],
  [
    'code in a file',
    { features: { chat: CHAT }, store: 'redis' },
    'TB_UNKNOWN_OPTION',
    'store is not an option a budget file holds',
  ],
  ['no features', { quotas: {} }, 'TB_INVALID_OPTION', 'features must name at least one feature.'],
  ['an unknown model', { features: { chat: { ...CHAT, model: 'gtp-4o' } } }, 'TB_UNKNOWN_MODEL', 'features.chat.model "gtp-4o"'],
  [
    'a quota tier of 0',
    { features: { chat: CHAT }, quotas: { user: { limits: { free: 0 } } } },
    'TB_INVALID_LIMIT',
    'quotas.user.limits.free must be a positive integer; got 0.',
  ],
  [
    'a quota that is not an object',
    { features: { chat: CHAT }, quotas: { user: null } },
    'TB_INVALID_OPTION',
    'quotas.user must be an object; got null.',
  ],
  [
    'a reserved quota name',
    { features: { chat: CHAT }, quotas: { global: { limits: 5 } } },
    'TB_INVALID_OPTION',
    'quotas.global: "global" names another budget',
  ],
  [
    'a bad period',
    { features: { chat: CHAT }, quotas: { user: { limits: 5, period: 'year' } } },
    'TB_INVALID_OPTION',
    'quotas.user.period must be one of hour, day, week, month.',
  ],
  [
    'a negative global limit',
    { features: { chat: CHAT }, globalTpm: { limit: -1 } },
    'TB_INVALID_LIMIT',
    'globalTpm.limit must be a positive integer; got -1.',
  ],
  [
    'a cap in words',
    { features: { chat: CHAT }, costMeter: { dailyCapUsd: 'lots' } },
    'TB_INVALID_OPTION',
    'costMeter.dailyCapUsd must be a positive amount of USD; got "lots".',
  ],
  [
    'a price per token instead of per 1M',
    { features: { chat: CHAT }, prices: { 'gpt-4o': { input: 2.5, output: -1 } } },
    'TB_INVALID_OPTION',
    'prices["gpt-4o"].output must be a price in USD per 1M tokens',
  ],
  [
    'a metered model without a price',
    { features: { chat: { ...CHAT, model: 'house-model' } }, unknownModelEncoding: 'o200k_base', costMeter: {} },
    'TB_UNPRICED_MODEL',
    '"house-model" has no known price',
  ],
  ['an array', [CHAT], 'TB_BUDGET_FILE', 'A budget file must hold a JSON object'],
  ['a number', 42, 'TB_BUDGET_FILE', 'A budget file must hold a JSON object; got 42.'],
  [
    'an object where a number goes',
    { features: { chat: CHAT }, maxMessages: { n: 5 } },
    'TB_INVALID_LIMIT',
    'maxMessages must be a positive integer; got {"n":5}.',
  ],
  [
    'a quota name with a space',
    { features: { chat: CHAT }, quotas: { 'bad name': { limits: 5 } } },
    'TB_INVALID_OPTION',
    'quota name "bad name" must be 1–64 characters',
  ],
])('%s: the file and the field are named', (_, content, code, message) => {
  const file = fileWith(content);
  const error = loadError(file);
  expect(error.code).toBe(code);
  expect(error.message.startsWith(`${file}: `)).toBe(true);
  expect(error.message).toContain(message);
});

test('a misspelt option at the top is named as written, with no path before it', () => {
  const file = fileWith({ features: { chat: CHAT }, maxMesages: 5 });
  expect(loadError(file).message.startsWith(`${file}: maxMesages is not an option a budget file holds;`)).toBe(true);
});

test('a model without a price loads when no cost meter has to price it', () => {
  const content = { features: { chat: { ...CHAT, model: 'house-model' } }, unknownModelEncoding: 'o200k_base' };
  expect(loadBudgetConfig(fileWith(content)).features.chat!.model).toBe('house-model');
});

test('alert thresholds without a webhook load: the callback is given in code', () => {
  expect(() => loadBudgetConfig(fileWith({ features: { chat: CHAT }, costMeter: { dailyAlertUsd: 10 } }))).not.toThrow();
});

test('a file that is not JSON, or not there, is TB_BUDGET_FILE naming it', () => {
  const broken = fileWith('{ "features": ');
  expect(loadError(broken)).toMatchObject({ code: 'TB_BUDGET_FILE', message: expect.stringContaining(`${broken} is not JSON`) });
  const missing = path.join(dir, 'nowhere.json');
  expect(loadError(missing)).toMatchObject({
    code: 'TB_BUDGET_FILE',
    message: expect.stringContaining(`Cannot read the budget file ${missing}`),
  });
});
