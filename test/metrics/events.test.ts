// createMetrics fed budget events directly: each event's counters, gauges and labels, outage policies included, without a store.
import { Registry, register } from 'prom-client';
import type { BudgetContext, SettledCall } from '../../lib/context';
import { createMetrics } from '../../lib/metrics/prometheus';
import type { NanoPrice } from '../../lib/pricing/prices';
import { BudgetRefusal } from '../../lib/refusal';
import type { Reservation, ScopeRequest, ScopeState } from '../../lib/store/types';

/** gpt-4o's published price: $2.50, $1.25 and $10 per 1M tokens, in nano-USD. */
const PRICE: NanoPrice = { input: 2_500_000_000, cachedInput: 1_250_000_000, output: 10_000_000_000 };
const priceOf = (model: string) => (model === 'gpt-4o' ? PRICE : undefined);

/** The metrics read only a scope's key and outage policy. */
const scope = (key: string, onUnavailable: ScopeRequest['onUnavailable']) =>
  ({ kind: 'user', key, onUnavailable, limit: 100 }) as unknown as ScopeRequest;

const context = (fields: { scopes?: ScopeRequest[]; degraded?: { strategy: string } } = {}) =>
  ({ feature: 'chat', scopes: [], degraded: undefined, ...fields }) as unknown as BudgetContext;

const reservation = (...parts: { scope: ScopeRequest; fallback?: true }[]) =>
  ({
    parts: parts.map((part) => ({ windowKey: part.scope.key, amount: 1, ...part })),
    leaseId: 'l',
    input: 1,
    outputCap: 1,
  }) as Reservation;

const call = (model: string, usage = { input: 1_000, cachedInput: 200, output: 300 }) =>
  ({ feature: 'chat', model, usage }) as unknown as SettledCall;

let registry: Registry;
beforeEach(() => {
  registry = new Registry();
});

/** One metric's samples named `sampleName` (a histogram's `…_sum`, `…_count`; a counter's or gauge's own name). */
async function samples(name: string, sampleName = name) {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return (values as { labels: Record<string, string | number>; value: number; metricName?: string }[]).filter(
    (sample) => (sample.metricName ?? name) === sampleName,
  );
}

/** The samples' values with the labels given (their other labels any), summed; 0 when none matches. */
async function value(name: string, labels: Record<string, string> = {}, sampleName = name): Promise<number> {
  return (await samples(name, sampleName))
    .filter((sample) => Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted))
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** The samples' values by the value of one label. */
async function byLabel(name: string, label: string, sampleName = name): Promise<Record<string, number>> {
  return Object.fromEntries((await samples(name, sampleName)).map((sample) => [sample.labels[label], sample.value]));
}

test('registers every metric under the prefix given, in the registry given only', () => {
  createMetrics(priceOf, { registry, prefix: 'app_' });
  expect(
    registry
      .getMetricsAsArray()
      .map((metric) => metric.name)
      .sort(),
  ).toEqual(
    [
      'cost_usd_total',
      'degradations_total',
      'late_spend_total',
      'outage_policy_total',
      'refusals_total',
      'reservations_in_flight',
      'reserve_seconds',
      'settle_seconds',
      'store_errors_total',
      'tokens_total',
    ].map((name) => `app_${name}`),
  );
});

test("without options: prom-client's global registry, and the prefix token_budget_", () => {
  createMetrics(priceOf);
  try {
    expect(register.getSingleMetric('token_budget_tokens_total')).toBeDefined();
  } finally {
    register.clear();
  }
});

test('without prom-client installed, says what to install (TB_MISSING_PEER)', () => {
  jest.doMock('prom-client', () => {
    throw new Error("Cannot find module 'prom-client'");
  });
  try {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const isolated = require('../../lib/metrics/prometheus') as typeof import('../../lib/metrics/prometheus');
      expect(() => isolated.createMetrics(priceOf)).toThrow(/^budget\.metrics\(\) needs prom-client: npm install prom-client\./);
      expect(() => isolated.createMetrics(priceOf)).toThrow(expect.objectContaining({ code: 'TB_MISSING_PEER' }));
    });
  } finally {
    // prom-client is required as metrics are created: the tests after this one need it back.
    jest.dontMock('prom-client');
  }
});

test('a granted reservation: timed by outcome, in flight until it ends, and settled tokens and cost by direction', async () => {
  const events = createMetrics(priceOf, { registry });
  events.reserved!(context(), 'granted', 1_500, reservation());
  events.reserved!(context(), 'granted', 500, reservation());
  expect(await value('token_budget_reservations_in_flight')).toBe(2);
  expect(await byLabel('token_budget_reserve_seconds', 'outcome', 'token_budget_reserve_seconds_sum')).toEqual({ granted: 2 });

  events.ended!(context(), 250, call('gpt-4o'), true);
  expect(await value('token_budget_reservations_in_flight')).toBe(1);
  expect(await value('token_budget_tokens_total', { feature: 'chat', model: 'gpt-4o', direction: 'input' })).toBe(1_000);
  expect(await value('token_budget_tokens_total', { direction: 'output' })).toBe(300);
  // 800 prompt tokens at $2.50, 200 cached at $1.25 and 300 output at $10 per 1M tokens.
  expect(await value('token_budget_cost_usd_total', { feature: 'chat', model: 'gpt-4o' })).toBeCloseTo(0.00525, 12);
  expect(await value('token_budget_settle_seconds', {}, 'token_budget_settle_seconds_sum')).toBe(0.25);
  expect(await value('token_budget_outage_policy_total')).toBe(0);
});

test('an ending that held nothing leaves the in-flight gauge alone; one without a call counts no tokens', async () => {
  const events = createMetrics(priceOf, { registry });
  events.reserved!(context(), 'granted', 1, reservation());
  events.ended!(context(), 1, call('gpt-4o'), false);
  expect(await value('token_budget_reservations_in_flight')).toBe(1);
  events.ended!(context(), 1, undefined, true);
  expect(await value('token_budget_reservations_in_flight')).toBe(0);
  expect(await value('token_budget_tokens_total')).toBe(1_300);
});

test('a model with no price is counted in tokens only', async () => {
  const events = createMetrics(priceOf, { registry });
  events.ended!(context(), 1, call('unpriced'), false);
  expect(await value('token_budget_tokens_total', { model: 'unpriced' })).toBe(1_300);
  expect(await samples('token_budget_cost_usd_total')).toEqual([]);
});

test('a refused or failed reservation is timed, and holds nothing; an unavailable store counts fail-closed', async () => {
  const events = createMetrics(priceOf, { registry });
  events.reserved!(context(), 'refused', 1, undefined);
  events.reserved!(context(), 'failed', 1, undefined);
  expect(await value('token_budget_outage_policy_total')).toBe(0);
  events.reserved!(context(), 'unavailable', 1, undefined);
  expect(await value('token_budget_outage_policy_total', { policy: 'fail-closed' })).toBe(1);
  expect(await value('token_budget_reservations_in_flight')).toBe(0);
  expect(await byLabel('token_budget_reserve_seconds', 'outcome', 'token_budget_reserve_seconds_count')).toEqual({
    refused: 1,
    failed: 1,
    unavailable: 1,
  });
});

test('a degraded request counts its strategy, granted or not', async () => {
  const events = createMetrics(priceOf, { registry });
  events.reserved!(context({ degraded: { strategy: 'truncate' } }), 'granted', 1, reservation());
  events.reserved!(context({ degraded: { strategy: 'downgrade' } }), 'refused', 1, undefined);
  expect(await value('token_budget_degradations_total', { feature: 'chat', strategy: 'truncate' })).toBe(1);
  expect(await value('token_budget_degradations_total', { strategy: 'downgrade' })).toBe(1);
});

describe('outage policies of a granted reservation', () => {
  const user = scope('u:{alice}', 'fail-open');
  const team = scope('q:{team}', 'fallback');
  const tpm = scope('g:{tpm}', 'fail-closed');

  test.each([
    ['every scope counted in the store', [user, team, tpm], [{ scope: user }, { scope: team }, { scope: tpm }], {}],
    ['a part counted in memory', [user, team], [{ scope: user }, { scope: team, fallback: true as const }], { fallback: 1 }],
    ['a fail-open scope left uncounted', [user, team], [{ scope: team }], { 'fail-open': 1 }],
    ['both', [user, team], [{ scope: team, fallback: true as const }], { fallback: 1, 'fail-open': 1 }],
    ['a fail-closed or fallback scope left out counts neither', [tpm, team], [], {}],
  ])('%s', async (_name, scopes, parts, policies) => {
    const events = createMetrics(priceOf, { registry });
    events.reserved!(context({ scopes }), 'granted', 1, reservation(...parts));
    expect(await byLabel('token_budget_outage_policy_total', 'policy')).toEqual(policies);
  });
});

describe('refusals by feature, scope kind and reason', () => {
  const refusals = async () => (await samples('token_budget_refusals_total')).map((sample) => sample.labels);

  const quotaState: ScopeState = { kind: 'quota', key: 'q:{team}', limit: 10, used: 10, remaining: 0, resetAtMs: 0 };

  test.each([
    ['the refusing scope names its kind', new BudgetRefusal('quota_exceeded', 'over', { scope: quotaState }), 'quota'],
    ['a missing user is the user scope', new BudgetRefusal('user_required', 'who?'), 'user'],
    ['a missing principal is the quota scope', new BudgetRefusal('principal_required', 'who?'), 'quota'],
    ['any other refusal without a scope names none', new BudgetRefusal('invalid_request', 'bad'), 'none'],
  ])('%s', async (_name, refusal, kind) => {
    createMetrics(priceOf, { registry }).refused!(refusal, 'chat');
    expect(await refusals()).toEqual([{ feature: 'chat', scope: kind, reason: refusal.type }]);
  });

  test('a refusal outside any feature has an empty feature label', async () => {
    createMetrics(priceOf, { registry }).refused!(new BudgetRefusal('invalid_request', 'bad'), undefined);
    expect(await refusals()).toEqual([{ feature: '', scope: 'none', reason: 'invalid_request' }]);
  });
});

test('store errors are counted by error name, and late spend once per report', async () => {
  const events = createMetrics(priceOf, { registry });
  const timeout = new Error('slow');
  timeout.name = 'StoreTimeoutError';
  events.storeError!(timeout);
  events.storeError!(timeout);
  events.storeError!(new Error('down'));
  events.lateSpend!({} as never);
  expect(await byLabel('token_budget_store_errors_total', 'error')).toEqual({
    StoreTimeoutError: 2,
    Error: 1,
  });
  expect(await value('token_budget_late_spend_total')).toBe(1);
});
