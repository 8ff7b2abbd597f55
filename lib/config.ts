// Options → validated internal config, read once at start-up; mistakes throw TokenBudgetConfigError.
import { readModelAliases, type ModelAliases } from './aliases';
import type { CallSettings } from './context';
import { Observers } from './observers';
import {
  fail,
  positiveInteger,
  checkName,
  checkPolicy,
  checkOnExceed,
  checkClientGone,
  checkMissingUsage,
  checkFunction,
  checkErrorOptions,
  checkOptionNames,
  optionNames,
} from './options/check';
import { isMemoryStore, memoryStore } from './store/memory';
import { errorReporter } from './store/report';
import { resilientStore } from './store/resilient';
import type { Store, UnavailablePolicy } from './store/types';
import { fallbackModel, isUnlistedSnapshot, lookupModel, type EncodingName, type ModelInfo } from './tokens/models';
import { checkSummarizer, readDowngrade, readSummarizer, type DowngradeStep, type SummarizerConfig } from './degrade/options';
import { checkMode, warnShadow } from './shadow';
import type {
  BudgetFile,
  BudgetMode,
  ErrorOptions,
  FeatureOptions,
  MessagesSource,
  OnExceed,
  ShadowEvent,
  TokenBudgetOptions,
} from './types';
import { warnOncePerCode, type Warn } from './warnings';

/** A feature as the middlewares use it. */
export interface FeatureConfig {
  name: string;
  maxInput: number;
  maxOutput: number;
  model: string;
  modelInfo: ModelInfo;
  dailyTokens: number | undefined;
  onStoreUnavailable: UnavailablePolicy;
  onExceed: OnExceed;
  messages: MessagesSource | undefined;
  /** Cheaper models for when a budget runs low, in the order they are checked. */
  downgrade: DowngradeStep[];
  /** The model that writes summaries (`onExceed: 'summarize'`). */
  summarizer: SummarizerConfig | undefined;
}

export interface BudgetConfig {
  features: Map<string, FeatureConfig>;
  /** The `models` option: names the app uses for known models. */
  aliases: ModelAliases;
  /** The configured store, behind the outage policies (`resilientStore`) unless it is the default memory store. */
  store: Store;
  onStoreUnavailable: UnavailablePolicy;
  maxMessages: number;
  errorOptions: ErrorOptions;
  warn: Warn;
  calls: CallSettings;
  /** Metrics and the admin view listen here; empty (and free) until one does. */
  observers: Observers;
  /** The budget's `mode`, inherited by each middleware. */
  mode: BudgetMode;
  /** Told of what shadow budgets would have done (`onShadow`, else a warning per code). */
  onShadow: (event: ShadowEvent) => void;
}

const ENCODINGS: EncodingName[] = ['o200k_base', 'cl100k_base'];

/** How the features' models are resolved: aliases first, then the model table, then the fallback encoding. */
interface ModelResolution {
  aliases: ModelAliases;
  unknownModelEncoding: EncodingName | undefined;
}

function resolveModel(model: unknown, path: string, { aliases, unknownModelEncoding }: ModelResolution, warn: Warn): ModelInfo {
  if (typeof model !== 'string' || model === '') fail('TB_INVALID_OPTION', `${path} must be a model name.`);
  const alias = aliases.get(model);
  if (alias) return alias.info;
  const info = lookupModel(model);
  if (info && isUnlistedSnapshot(model)) {
    warn(
      'TB_UNLISTED_SNAPSHOT',
      `${path} "${model}" is not a listed snapshot of ${info.family}; it is counted and priced as ${info.family}, whose limits and prices may not be its own.`,
    );
  }
  if (info) return info;
  if (unknownModelEncoding) return fallbackModel(model, unknownModelEncoding);
  return fail(
    'TB_UNKNOWN_MODEL',
    `${path} "${model}" is not a known OpenAI model; name the model it is in models (e.g. { "${model}": 'gpt-4o' }), or set unknownModelEncoding to count it with a given encoding.`,
  );
}

function readFeature(
  name: string,
  options: FeatureOptions,
  models: ModelResolution,
  defaultPolicy: UnavailablePolicy,
  warn: Warn,
): FeatureConfig {
  const path = `features.${name}`;
  if (typeof options !== 'object' || options === null) fail('TB_INVALID_OPTION', `${path} must be an object.`);
  checkOptionNames(options, FEATURE_OPTION_NAMES, path);
  const modelInfo = resolveModel(options.model, `${path}.model`, models, warn);
  const resolve = (model: unknown, at: string) => resolveModel(model, at, models, warn);
  const maxInput = positiveInteger(options.maxInput, `${path}.maxInput`);
  const maxOutput = positiveInteger(options.maxOutput, `${path}.maxOutput`);
  if (modelInfo.maxOutputTokens !== undefined && maxOutput > modelInfo.maxOutputTokens) {
    fail(
      'TB_OUTPUT_OVER_MODEL_LIMIT',
      `${path}.maxOutput is ${maxOutput}, but ${options.model} produces at most ${modelInfo.maxOutputTokens} output tokens.`,
    );
  }
  if (modelInfo.maxInputTokens !== undefined && maxInput > modelInfo.maxInputTokens) {
    fail(
      'TB_OVER_INPUT_LIMIT',
      `${path}.maxInput is ${maxInput}, but ${options.model} takes at most ${modelInfo.maxInputTokens} input tokens (of its ${modelInfo.contextWindow}-token context).`,
    );
  }
  if (modelInfo.contextWindow !== undefined && maxInput + maxOutput > modelInfo.contextWindow) {
    fail(
      'TB_OVER_CONTEXT',
      `${path}: maxInput ${maxInput} + maxOutput ${maxOutput} is more than the ${modelInfo.contextWindow}-token context window of ${options.model}; the API would refuse such a call.`,
    );
  }
  const onExceed = checkOnExceed(options.onExceed, `${path}.onExceed`) ?? 'reject';
  const summarizer = readSummarizer(options, path, resolve);
  checkSummarizer(onExceed, summarizer, path);
  return {
    name,
    maxInput,
    maxOutput,
    model: options.model,
    modelInfo,
    dailyTokens: options.dailyTokens === undefined ? undefined : positiveInteger(options.dailyTokens, `${path}.dailyTokens`),
    onStoreUnavailable: checkPolicy(options.onStoreUnavailable, `${path}.onStoreUnavailable`, defaultPolicy),
    onExceed,
    messages: checkFunction(options.messages, `${path}.messages`),
    downgrade: readDowngrade(options.downgrade, `${path}.downgrade`, { maxInput, maxOutput }, resolve),
    summarizer,
  };
}

function checkStore(store: unknown): Store {
  const methods = ['reserve', 'settle', 'release', 'usage'] as const;
  if (typeof store !== 'object' || store === null || methods.some((m) => typeof (store as Store)[m] !== 'function')) {
    fail('TB_INVALID_OPTION', 'store must be a Store, e.g. memoryStore() or redisStore(client).');
  }
  return store as Store;
}

/**
 * createTokenBudget's options, and the other keys of a budget file spread into them
 * (`createTokenBudget({ ...file, store })`): its quotas, global limit and meter are read where they are mounted.
 */
const BUDGET_OPTION_NAMES = optionNames<
  TokenBudgetOptions & Pick<BudgetFile, 'quotas' | 'globalTpm' | 'costMeter'> & { $schema?: string }
>({
  features: true,
  store: true,
  onStoreUnavailable: true,
  onStoreError: true,
  unknownModelEncoding: true,
  maxMessages: true,
  onWarning: true,
  callTimeoutMs: true,
  leaseMarginMs: true,
  onClientGone: true,
  onMissingUsage: true,
  prices: true,
  fallbackPrice: true,
  models: true,
  mode: true,
  onShadow: true,
  onReject: true,
  errors: true,
  quotas: true,
  globalTpm: true,
  costMeter: true,
  $schema: true,
});

const FEATURE_OPTION_NAMES = optionNames<FeatureOptions>({
  maxInput: true,
  maxOutput: true,
  model: true,
  dailyTokens: true,
  onStoreUnavailable: true,
  onExceed: true,
  messages: true,
  downgrade: true,
  summarizer: true,
  summarizeFallback: true,
  summaryCache: true,
});

/** Reads `createTokenBudget` options once; every mistake is reported here, not per request. */
export function readConfig(options: TokenBudgetOptions): BudgetConfig {
  if (typeof options !== 'object' || options === null) fail('TB_INVALID_OPTION', 'createTokenBudget needs an options object.');
  checkOptionNames(options, BUDGET_OPTION_NAMES, '');
  const { unknownModelEncoding } = options;
  if (unknownModelEncoding !== undefined && !ENCODINGS.includes(unknownModelEncoding)) {
    fail(
      'TB_INVALID_OPTION',
      `unknownModelEncoding must be one of ${ENCODINGS.join(', ')}; got ${JSON.stringify(unknownModelEncoding)}.`,
    );
  }
  const onStoreUnavailable = checkPolicy(options.onStoreUnavailable, 'onStoreUnavailable', 'fallback');
  const warn = warnOncePerCode(checkFunction(options.onWarning, 'onWarning'));
  const entries = Object.entries(options.features ?? {});
  if (entries.length === 0) fail('TB_INVALID_OPTION', 'features must name at least one feature.');
  const aliases = readModelAliases(options.models);
  const features = new Map<string, FeatureConfig>();
  for (const [name, feature] of entries) {
    checkName(name, `feature name "${name}"`);
    features.set(name, readFeature(name, feature, { aliases, unknownModelEncoding }, onStoreUnavailable, warn));
  }
  const observers = new Observers();
  const reportStoreError = errorReporter(checkFunction(options.onStoreError, 'onStoreError'));
  const onStoreError = (err: Error) => {
    observers.storeError(err);
    reportStoreError(err);
  };
  // The memory store is never unreachable (the default one or one the app made); any other store gets the outage policies.
  const store =
    options.store === undefined
      ? memoryStore()
      : isMemoryStore(options.store)
        ? options.store
        : resilientStore(checkStore(options.store), { onError: onStoreError });
  store.onLateSpend?.((report) => observers.lateSpend(report));
  return {
    features,
    aliases,
    store,
    observers,
    onStoreUnavailable,
    mode: checkMode(options.mode, 'mode', 'enforce'),
    onShadow: checkFunction(options.onShadow, 'onShadow') ?? warnShadow(warn),
    maxMessages: options.maxMessages === undefined ? 1000 : positiveInteger(options.maxMessages, 'maxMessages'),
    errorOptions: checkErrorOptions(options, 'options'),
    warn,
    calls: {
      callTimeoutMs: options.callTimeoutMs === undefined ? 600_000 : positiveInteger(options.callTimeoutMs, 'callTimeoutMs'),
      leaseMarginMs: options.leaseMarginMs === undefined ? 60_000 : positiveInteger(options.leaseMarginMs, 'leaseMarginMs'),
      onClientGone: checkClientGone(options.onClientGone, 'onClientGone') ?? 'finish',
      onMissingUsage: checkMissingUsage(options.onMissingUsage),
    },
  };
}
