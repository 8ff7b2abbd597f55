// Which budget runs low, by which rule: the conditions of a downgrade against scope states.
import { NO_CAP } from '../../lib/alerts/spend-scopes';
import { downgradeEvent, findLowBudget, lowBudget, modelDowngrade } from '../../lib/degrade/downgrade';
import type { DowngradeStep } from '../../lib/degrade/options';
import { memoryStore } from '../../lib';
import type { ScopeRequest, ScopeState, Store } from '../../lib/store/types';
import { requireModel } from '../../lib/tokens/models';
import type { DowngradeWhen } from '../../lib/types';

const DAY = { kind: 'fixed', periodAt: () => ({ id: 'd', startMs: 0, endMs: 8.64e15 }) } as const;
const scope = (kind: ScopeRequest['kind'], key: string, limit: number, money = false): ScopeRequest => ({
  kind,
  key,
  limit,
  onUnavailable: 'fail-closed',
  window: DAY,
  ...(money && { weights: { input: 1, cachedInput: 1, output: 1 } }),
});
const stateOf = (s: ScopeRequest, remaining: number): ScopeState => ({
  kind: s.kind,
  key: s.key,
  limit: s.limit,
  used: s.limit - remaining,
  remaining,
  resetAtMs: 0,
});
const step = (model: string, when: DowngradeWhen): DowngradeStep => ({
  model,
  modelInfo: requireModel(model),
  maxOutput: 50,
  when,
});

const user = scope('user', 'u', 1000);
const global = scope('global', 'g', 1000);
const spend = scope('spend', 's', 10_000_000, true);
const uncapped = scope('spend', 's2', NO_CAP, true);

test('a fraction applies to every budget but the global limit and an uncapped meter', () => {
  const rules = [step('gpt-4o-mini', { remainingBelow: 0.2 })];
  expect(lowBudget(rules, [global, uncapped], [stateOf(global, 0), stateOf(uncapped, 0)])).toBeUndefined();
  expect(lowBudget(rules, [user], [stateOf(user, 200)])).toBeUndefined();
  expect(lowBudget(rules, [user], [stateOf(user, 199)])?.state.key).toBe('u');
  expect(lowBudget(rules, [spend], [stateOf(spend, 1_999_999)])?.state.key).toBe('s');
});

test('tokens apply to token budgets, USD to money budgets', () => {
  const rules = [step('gpt-4o-mini', { remainingTokensBelow: 100, remainingUsdBelow: 0.005 })];
  expect(lowBudget(rules, [user], [stateOf(user, 99)])?.state.key).toBe('u');
  expect(lowBudget(rules, [user], [stateOf(user, 100)])).toBeUndefined();
  // $0.005 is 5,000,000 nano-USD; 99 nano-USD is not "fewer than 100 tokens".
  expect(lowBudget(rules, [spend], [stateOf(spend, 4_999_999)])?.state.key).toBe('s');
  expect(lowBudget(rules, [spend], [stateOf(spend, 5_000_000)])).toBeUndefined();
});

test('the first rule that holds decides', () => {
  const rules = [step('gpt-4.1-nano', { remainingBelow: 0.05 }), step('gpt-4o-mini', { remainingBelow: 0.2 })];
  expect(lowBudget(rules, [user], [stateOf(user, 150)])?.step.model).toBe('gpt-4o-mini');
  expect(lowBudget(rules, [user], [stateOf(user, 40)])?.step.model).toBe('gpt-4.1-nano');
});

test('the store is read before the reservation; a store that cannot be read downgrades nothing', async () => {
  const store = memoryStore();
  const rules = [step('gpt-4o-mini', { remainingBelow: 0.2 })];
  expect(await findLowBudget(store, [user], rules)).toBeUndefined();
  const held = await store.reserve({ scopes: [user], input: 800, maxOutput: 10 });
  expect(held.ok).toBe(true);
  expect((await findLowBudget(store, [user], rules))?.state).toMatchObject({ used: 810, remaining: 190 });
  const down = { ...store, usage: () => Promise.reject(new Error('down')) } as Store;
  expect(await findLowBudget(down, [user], rules)).toBeUndefined();
});

test('a downgrade names the budget that ran low, by its name or else its kind; shadow mode says what it would have done', () => {
  const rule = step('gpt-4o-mini', { remainingBelow: 0.2 });
  const team = { ...stateOf(scope('quota', 't', 1000), 150), name: 'team' };
  const downgrade = modelDowngrade('gpt-4o', { step: rule, state: team });
  expect(downgrade).toEqual({ from: 'gpt-4o', to: 'gpt-4o-mini', scope: 'team', remaining: 150, limit: 1000 });
  expect(modelDowngrade('gpt-4o', { step: rule, state: stateOf(spend, 5) }).scope).toBe('spend');
  expect(downgradeEvent('chat', downgrade)).toEqual({
    action: 'degrade',
    code: 'downgrade',
    feature: 'chat',
    scope: 'team',
    message: 'The team budget had 150 of 1000 left: the call would have gone to gpt-4o-mini instead of gpt-4o.',
  });
});
