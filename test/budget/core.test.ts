// The framework-free budget's own parts: ranking started once and only with a store that ranks, its clock, meters, metrics, errors naming the caller.
import { Registry } from 'prom-client';
import { createBudgetCore } from '../../lib/budget';
import type { BudgetContext, SettledCall } from '../../lib/context';
import { memoryStore } from '../../lib/store/memory';
import type { RankIncrement, Store } from '../../lib/store/types';
import { configError } from '../helpers/config-error';

const features = { chat: { maxInput: 100, maxOutput: 50, model: 'gpt-4o' } };
const NOW = Date.parse('2026-03-04T05:06:07Z');
const settled = (model: string): SettledCall => ({
  feature: 'chat',
  model,
  responseModel: undefined,
  usage: { input: 1_000, cachedInput: 0, output: 100 },
  report: { spent: [] },
  context: { scopes: [] } as unknown as BudgetContext,
});

test("ranking starts once, writing each settled call at the store's time with the model's price", async () => {
  const store = memoryStore({ now: () => NOW });
  const rank = jest.spyOn(store, 'rank');
  const core = createBudgetCore({ features, store });
  expect(core.now()).toBe(NOW);
  core.startRanking();
  core.startRanking();
  expect(core.config.observers.active).toBe(true);
  core.config.observers.ended({} as BudgetContext, 0, settled('gpt-4o'), true);
  expect(rank).toHaveBeenCalledTimes(1);
  const increments = rank.mock.calls[0]![0] as RankIncrement[];
  // gpt-4o: 1,000 prompt tokens at $2.50 and 100 output tokens at $10 per 1M: $0.0035, in nano-USD.
  expect(increments).toContainEqual(expect.objectContaining({ key: 'adm:{tb-admin}:spend:h:2026-03-04T05', amount: 3_500_000 }));
  expect(increments).toContainEqual(expect.objectContaining({ key: 'adm:{tb-admin}:tokens:d:2026-03-04', amount: 1_100 }));
  await store.close();
});

test("an unpriced model's calls are ranked by tokens only", async () => {
  const store = memoryStore({ now: () => NOW });
  const rank = jest.spyOn(store, 'rank');
  const core = createBudgetCore({ features, store });
  core.startRanking();
  core.config.observers.ended({} as BudgetContext, 0, settled('unknown-model'), true);
  core.config.observers.ended({} as BudgetContext, 0, settled('unknown-model'), true);
  expect(rank.mock.calls.map(([increments]) => increments.map((i) => i.key))).toEqual([
    ['adm:{tb-admin}:tokens:d:2026-03-04'],
    ['adm:{tb-admin}:tokens:d:2026-03-04'],
  ]);
  await store.close();
});

test('a store that cannot rank starts no ranking; a store without a clock leaves the time to Date.now', () => {
  // Never called: the test reads no usage and reserves nothing.
  const unused = async (): Promise<never> => {
    throw new Error('not called');
  };
  const plain: Store = { reserve: unused, settle: unused, release: unused, usage: unused };
  const core = createBudgetCore({ features, store: plain, onStoreError: () => {} });
  core.startRanking();
  expect(core.config.observers.active).toBe(false);
  const before = Date.now();
  const now = core.now();
  expect(now).toBeGreaterThanOrEqual(before);
  expect(now).toBeLessThanOrEqual(Date.now());
});

test('meters() lists the cost meters mounted, and metrics() registers its counters', () => {
  const core = createBudgetCore({ features });
  expect(core.meters()).toEqual([]);
  core.costMeter({ hourlyCapUsd: 5 });
  expect(core.meters()).toEqual([expect.objectContaining({ per: 'global' })]);
  const registry = new Registry();
  core.metrics({ registry });
  expect(core.config.observers.active).toBe(true);
  expect(registry.getSingleMetric('token_budget_tokens_total')).toBeDefined();
});

test('flags close before any was read; usage and usageHandler name the missing quota and the caller', async () => {
  const core = createBudgetCore({ features });
  await expect(core.flags.close()).resolves.toBeUndefined();
  expect(configError(() => core.usageHandler()).message).toBe(
    "usageHandler({ quota: 'user' }) needs budget.userQuota(...) to be created first. [TB_INVALID_OPTION]",
  );
  await expect(core.usage.quota('team', 'acme')).rejects.toThrow(
    "usage.quota('team') needs budget.quota({ name: 'team', ... }) to be created first. [TB_INVALID_OPTION]",
  );
  await expect(core.usage.user('ann')).rejects.toThrow('usage.user() needs budget.userQuota(...) to be created first.');
});
