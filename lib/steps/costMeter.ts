// costMeter: declares a meter's money scopes (hour and day spend, caps as their limits) and watches each settlement for alerts.
import type { BudgetConfig } from '../config';
import { checkFunction, checkName, checkOptionNames, checkPolicy, fail, optionNames } from '../options/check';
import type { BudgetContext } from '../context';
import type { AnswerOptions } from '../http/errors';
import { formatUsd, usdToNanos } from '../alerts/money';
import { createAlertSender, type AlertSinks, type SendAlert } from '../alerts/sinks';
import { NO_CAP, spendScope, weightsOf, type SpendWindow } from '../alerts/spend-scopes';
import type { SpikeRule } from '../alerts/spike';
import { createSpendWatcher, type WatchedScope } from '../alerts/watcher';
import { readWebhook } from '../alerts/webhook';
import { callCostNanos } from '../pricing/cost';
import { findPrice, priceOf, type NanoPrice, type PriceList } from '../pricing/prices';
import { checkMode } from '../shadow';
import { validateTimeZone } from '../store/periods';
import type { UnavailablePolicy } from '../store/types';
import type { BudgetMode, CostMeterOptions, SpikeOptions } from '../types';
import type { Exchange } from '../exchange';
import { readErrorOptions, requireContext } from './respond';
import type { Step } from './step';

export const DEFAULT_COST_HEADER = 'X-Token-Budget-Cost-USD';
const WINDOWS: SpendWindow[] = ['hour', 'day'];
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A meter's options, read once. */
export interface CostMeterConfig {
  name: string;
  path: string;
  per: 'global' | 'feature';
  timeZone: string;
  /** Nano-USD per window; `NO_CAP` for none. */
  caps: Record<SpendWindow, number>;
  /** Alert thresholds per window, nano-USD, ascending. */
  thresholds: Record<SpendWindow, number[]>;
  spike: SpikeRule | undefined;
  sinks: AlertSinks;
  costHeader: string | undefined;
  onUnavailable: UnavailablePolicy;
  errorOptions: AnswerOptions;
  /** This mount's mode: in shadow mode its caps never refuse or cap a call. */
  mode: BudgetMode;
  /** What every mount of one name must agree on: caps, thresholds, spike, per and zone. */
  definition: string;
}

/** A meter as registered: the requests one of its name already watches, and whether spend settled outside requests reaches it yet. */
export interface RegisteredMeter {
  definition: string;
  /** The first mount's options (every mount of a name agrees on caps and alerts): what the admin view shows. */
  config: CostMeterConfig;
  watching: WeakSet<BudgetContext>;
  hearsLateSpend: boolean;
}

/** Meters by name. */
export type MeterRegistry = Map<string, RegisteredMeter>;

function readThresholds(value: unknown, path: string): number[] {
  if (value === undefined) return [];
  const amounts = Array.isArray(value) ? value : [value];
  return [...new Set(amounts.map((usd, i) => usdToNanos(usd, Array.isArray(value) ? `${path}[${i}]` : path)))].sort(
    (a, b) => a - b,
  );
}

const SPIKE_OPTION_NAMES = optionNames<SpikeOptions>({ factor: true, minUsd: true });

function readSpike(value: CostMeterOptions['spike'], path: string): SpikeRule | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) fail('TB_INVALID_OPTION', `${path} must be { factor, minUsd }.`);
  checkOptionNames(value, SPIKE_OPTION_NAMES, path);
  const { factor } = value;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0) {
    fail(
      'TB_INVALID_OPTION',
      `${path}.factor must be a positive number (e.g. 3: three times the average hour); got ${JSON.stringify(factor)}.`,
    );
  }
  return { factor, minNanos: usdToNanos(value.minUsd ?? 1, `${path}.minUsd`) };
}

function readCostHeader(value: unknown, path: string): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_COST_HEADER;
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    fail('TB_INVALID_OPTION', `${path} must be true, false or a header name; got ${JSON.stringify(value)}.`);
  }
  return value;
}

const COST_METER_OPTION_NAMES = optionNames<CostMeterOptions>({
  hourlyAlertUsd: true,
  dailyAlertUsd: true,
  hourlyCapUsd: true,
  dailyCapUsd: true,
  spike: true,
  onAlert: true,
  webhook: true,
  per: true,
  name: true,
  timeZone: true,
  costHeader: true,
  onStoreUnavailable: true,
  mode: true,
  errors: true,
  onReject: true,
});

/** Reads `budget.costMeter(options)`; mistakes are named under `where` (default: `costMeter("name")`). */
export function readCostMeter(config: BudgetConfig, options: CostMeterOptions = {}, where?: string): CostMeterConfig {
  if (typeof options !== 'object' || options === null) fail('TB_INVALID_OPTION', 'costMeter options must be an object.');
  const name = checkName(options.name ?? 'spend', `${where ?? 'costMeter'}.name`);
  const path = where ?? `costMeter("${name}")`;
  checkOptionNames(options, COST_METER_OPTION_NAMES, path);
  const per = options.per ?? 'global';
  if (per !== 'global' && per !== 'feature')
    fail('TB_INVALID_OPTION', `${path}.per must be 'global' or 'feature'; got ${JSON.stringify(per)}.`);
  const timeZone = options.timeZone ?? 'UTC';
  if (typeof timeZone !== 'string' || !validateTimeZone(timeZone)) {
    fail('TB_INVALID_OPTION', `${path}.timeZone ${JSON.stringify(timeZone)} is not an IANA time zone.`);
  }
  const cap = (usd: unknown, option: string) => (usd === undefined ? NO_CAP : usdToNanos(usd, `${path}.${option}`));
  const caps = { hour: cap(options.hourlyCapUsd, 'hourlyCapUsd'), day: cap(options.dailyCapUsd, 'dailyCapUsd') };
  const thresholds = {
    hour: readThresholds(options.hourlyAlertUsd, `${path}.hourlyAlertUsd`),
    day: readThresholds(options.dailyAlertUsd, `${path}.dailyAlertUsd`),
  };
  const spike = readSpike(options.spike, `${path}.spike`);
  const sinks = {
    onAlert: checkFunction(options.onAlert, `${path}.onAlert`),
    webhook: readWebhook(options.webhook, `${path}.webhook`),
  };
  if ((thresholds.hour.length > 0 || thresholds.day.length > 0 || spike) && !sinks.onAlert && !sinks.webhook) {
    fail('TB_INVALID_OPTION', `${path} has alerts but nowhere to send them; give onAlert or webhook.`);
  }
  return {
    name,
    path,
    per,
    timeZone,
    caps,
    thresholds,
    spike,
    sinks,
    costHeader: readCostHeader(options.costHeader, `${path}.costHeader`),
    onUnavailable: checkPolicy(options.onStoreUnavailable, `${path}.onStoreUnavailable`, config.onStoreUnavailable),
    errorOptions: readErrorOptions(config, options, path),
    mode: checkMode(options.mode, `${path}.mode`, config.mode),
    definition: JSON.stringify([per, timeZone, caps, thresholds, spike ?? null]),
  };
}

/**
 * Adds `meter` to the budget's meters. One name is one spend: mounting it again with
 * the same caps, thresholds, spike, per and zone is how several routes share it.
 * Returns its registration, shared by every mount of the name, so a route that
 * mounts it twice alerts once.
 */
export function registerMeter(meters: MeterRegistry, meter: CostMeterConfig): RegisteredMeter {
  const known = meters.get(meter.name);
  if (!known) {
    const registered = {
      definition: meter.definition,
      config: meter,
      watching: new WeakSet<BudgetContext>(),
      hearsLateSpend: false,
    };
    meters.set(meter.name, registered);
    return registered;
  }
  if (known.definition !== meter.definition) {
    fail(
      'TB_INVALID_OPTION',
      `${meter.path} is already defined with other caps, alerts, spike, per or timeZone; mount one name with one definition, or give the other meter another name.`,
    );
  }
  return known;
}

/** Alerts reach the budget's observers (the admin view's recent alerts) as well as the meter's sinks. */
function tellObservers(config: BudgetConfig, send: SendAlert): SendAlert {
  return (alert) => {
    config.observers.alert(alert);
    send(alert);
  };
}

/** What the meter needs of one feature: its price and its scopes. */
interface MeteredFeature {
  price: NanoPrice;
  watched: WatchedScope[];
  /** The prices of its other models (`downgrade`, `summarizer`), by name. */
  otherPrices: Map<string, NanoPrice>;
}

/**
 * Builds the middleware of `budget.costMeter(options)`. Every configured model must
 * have a price (TB_UNPRICED_MODEL) unless `fallbackPrice` is given.
 */
export function createCostMeter(
  config: BudgetConfig,
  prices: PriceList,
  meter: CostMeterConfig,
  registered: RegisteredMeter,
): Step {
  const { watching } = registered;
  const features = new Map<string, MeteredFeature>();
  const byKey = new Map<string, WatchedScope>();
  for (const feature of config.features.values()) {
    const { price, pricedAs } = priceOf(feature.model, prices);
    if (pricedAs === 'fallback') {
      config.warn(
        'TB_FALLBACK_PRICE',
        `features.${feature.name}.model "${feature.model}" has no price of its own; its spend is counted at fallbackPrice.`,
      );
    }
    const watched = WINDOWS.map((window): WatchedScope => {
      const scopeFeature = meter.per === 'feature' ? feature.name : undefined;
      const scope = spendScope({
        meter: meter.name,
        feature: scopeFeature,
        window,
        timeZone: meter.timeZone,
        limit: meter.caps[window],
        weights: weightsOf(price),
        onUnavailable: meter.onUnavailable,
      });
      return { scope, window, feature: scopeFeature, thresholds: meter.thresholds[window] };
    });
    for (const scope of watched) byKey.set(scope.scope.key, scope);
    // A cheaper model or summarizer without a price is refused now (TB_UNPRICED_MODEL), as the feature's own model is.
    const otherModels = [
      ...feature.downgrade.map(({ model }) => model),
      ...(feature.summarizer ? [feature.summarizer.model] : []),
    ];
    const otherPrices = new Map(otherModels.map((model) => [model, priceOf(model, prices).price]));
    features.set(feature.name, { price, watched, otherPrices });
  }
  const { store } = config;
  if (meter.spike && typeof store.spentAt !== 'function') {
    fail(
      'TB_INVALID_OPTION',
      `${meter.path}.spike needs a store that reads past spend (spentAt), as memoryStore and redisStore do.`,
    );
  }
  const watcher = createSpendWatcher({
    meter: meter.name,
    scopeOf: (key) => byKey.get(key),
    spike: meter.spike,
    readSpent: store.spentAt && ((scope, atMs) => store.spentAt!(scope, atMs)),
    send: tellObservers(config, createAlertSender(meter.sinks, config.warn)),
    warn: config.warn,
    now: Date.now,
  });
  // Spend settled after an outage (retried settles, fallback counts handed back) crosses thresholds too; heard once per meter.
  if (!registered.hearsLateSpend && store.onLateSpend) {
    registered.hearsLateSpend = true;
    store.onLateSpend((report) => watcher.observe(report.spent));
  }

  return { run, answer: meter.errorOptions, ends: false };

  function run(exchange: Exchange): void {
    const context = requireContext(exchange, meter.path);
    const feature = features.get(context.feature)!;
    for (const { scope } of feature.watched) context.declare(scope, meter.mode);
    if (feature.otherPrices.size > 0) context.weighSpendWith((model) => weightsOf(feature.otherPrices.get(model)!));
    if (!watching.has(context)) {
      watching.add(context);
      context.afterSettle((call) => {
        watcher.observe(call.report.spent);
        // The spend was weighed at the feature's model's prices; a snapshot the table does not know is its family's.
        if (call.responseModel && call.responseModel !== call.model && !findPrice(call.responseModel, prices)) {
          config.warn(
            'TB_UNPRICED_RESPONSE_MODEL',
            `A call of feature "${call.feature}" was answered by "${call.responseModel}", which has no price; it was counted at ${call.model}'s.`,
          );
        }
        if (meter.costHeader && !exchange.res.headersSent) {
          const price = feature.otherPrices.get(call.model) ?? feature.price;
          exchange.res.setHeader(meter.costHeader, formatUsd(callCostNanos(price, call.usage)));
        }
      });
    }
  }
}
