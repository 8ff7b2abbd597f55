// budget.metrics({ registry }): prom-client counters, gauges and histograms fed by the budget's events.
import type * as PromClient from 'prom-client';
import type { ReserveOutcome } from '../context';
import type { BudgetEvents } from '../observers';
import { callCostNanos } from '../pricing/cost';
import type { NanoPrice } from '../pricing/prices';
import type { BudgetRefusal } from '../refusal';
import type { Reservation } from '../store/types';
import { checkOptionNames, fail, optionNames } from '../options/check';
import type { MetricsOptions } from '../types';

const NANOS_PER_USD = 1e9;
/** Store round trips: from a local memory store (µs) to a stalled Redis hitting its deadline (1 s and more). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** prom-client, loaded only by apps that ask for metrics: it is an optional peer dependency. */
function loadPromClient(): typeof PromClient {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional: loaded only when metrics are asked for
    return require('prom-client') as typeof PromClient;
  } catch {
    return fail('TB_MISSING_PEER', 'budget.metrics() needs prom-client: npm install prom-client.');
  }
}

/** The scope kind a refusal names: the refusing scope's, `user`/`quota` for a missing principal, else `none`. */
function refusedScopeKind(refusal: BudgetRefusal): string {
  if (refusal.details.scope) return refusal.details.scope.kind;
  if (refusal.type === 'user_required') return 'user';
  if (refusal.type === 'principal_required') return 'quota';
  return 'none';
}

/**
 * The outage policies a granted reservation ran under: `fallback` when a part was counted
 * in this process's memory, `fail-open` when a declared scope was left uncounted.
 */
function outagePolicies(scopes: readonly { key: string; onUnavailable: string }[], reservation: Reservation): string[] {
  const policies: string[] = [];
  if (reservation.parts.some((part) => part.fallback)) policies.push('fallback');
  const counted = new Set(reservation.parts.map((part) => part.scope.key));
  if (scopes.some((scope) => scope.onUnavailable === 'fail-open' && !counted.has(scope.key))) policies.push('fail-open');
  return policies;
}

const METRICS_OPTION_NAMES = optionNames<MetricsOptions>({ registry: true, prefix: true });

/** Registers the budget's metrics in `options.registry` (default prom-client's global registry) and feeds them. */
export function createMetrics(priceOf: (model: string) => NanoPrice | undefined, options: MetricsOptions = {}): BudgetEvents {
  checkOptionNames(options, METRICS_OPTION_NAMES, 'metrics');
  const prom = loadPromClient();
  const registers = [(options.registry as PromClient.Registry | undefined) ?? prom.register];
  const prefix = options.prefix ?? 'token_budget_';
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new prom.Counter<L>({ name: prefix + name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new prom.Histogram<L>({ name: prefix + name, help, labelNames, buckets: LATENCY_BUCKETS, registers });

  const tokens = counter(
    'tokens_total',
    'Tokens settled (what calls were charged), by feature, configured model and direction.',
    ['feature', 'model', 'direction'],
  );
  const cost = counter('cost_usd_total', 'Cost of settled calls in USD at the configured prices, by feature and model.', [
    'feature',
    'model',
  ]);
  const refusals = counter('refusals_total', 'Requests refused, by feature, kind of scope and error type.', [
    'feature',
    'scope',
    'reason',
  ]);
  const degradations = counter('degradations_total', 'Reservations of degraded requests (truncated, custom), by feature.', [
    'feature',
    'strategy',
  ]);
  const inFlight = new prom.Gauge({
    name: prefix + 'reservations_in_flight',
    help: 'Reservations granted by this process and not yet settled or released.',
    registers,
  });
  const storeErrors = counter('store_errors_total', 'Store errors: the store became unreachable, or a settlement failed.', [
    'error',
  ]);
  const outage = counter(
    'outage_policy_total',
    'Reservations that ran under an outage policy: fallback, fail-open, or fail-closed (refused).',
    ['policy'],
  );
  const lateSpend = counter(
    'late_spend_total',
    'Spend written to the store after an outage: retried settlements and fallback counts handed back.',
    [],
  );
  const reserveSeconds = histogram('reserve_seconds', 'Time of one reservation in the store, by outcome.', ['outcome']);
  const settleSeconds = histogram('settle_seconds', 'Time of one settlement or release in the store.', []);

  return {
    reserved(context, outcome: ReserveOutcome, durationMs, reservation) {
      reserveSeconds.observe({ outcome }, durationMs / 1000);
      if (outcome === 'unavailable') outage.inc({ policy: 'fail-closed' });
      if (context.degraded) degradations.inc({ feature: context.feature, strategy: context.degraded.strategy });
      if (!reservation) return;
      inFlight.inc();
      for (const policy of outagePolicies(context.scopes, reservation)) outage.inc({ policy });
    },
    ended(_context, durationMs, call, held) {
      settleSeconds.observe(durationMs / 1000);
      if (held) inFlight.dec();
      if (!call) return;
      const labels = { feature: call.feature, model: call.model };
      tokens.inc({ ...labels, direction: 'input' }, call.usage.input);
      tokens.inc({ ...labels, direction: 'output' }, call.usage.output);
      // A model with no price is counted in tokens only.
      const price = priceOf(call.model);
      if (price) cost.inc(labels, callCostNanos(price, call.usage) / NANOS_PER_USD);
    },
    refused(refusal, feature) {
      refusals.inc({ feature: feature ?? '', scope: refusedScopeKind(refusal), reason: refusal.type });
    },
    storeError(err) {
      storeErrors.inc({ error: err.name });
    },
    lateSpend() {
      lateSpend.inc();
    },
  };
}
