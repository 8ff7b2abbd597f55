// Reads the degrading options of a feature: its downgrade rules.
import { TokenBudgetConfigError } from '../config-error';
import { checkOptionNames, optionNames } from '../options/check';
import type { ModelInfo } from '../tokens/models';
import type {
  ChatCompletionsClient,
  DowngradeRule,
  DowngradeWhen,
  FeatureOptions,
  SummarizerOptions,
  SummaryCache,
} from '../types';

/** A downgrade rule as read: its model resolved, its output cap within the model's limits. */
export interface DowngradeStep {
  model: string;
  modelInfo: ModelInfo;
  /** The feature's `maxOutput`, at most the model's output limit. */
  maxOutput: number;
  when: DowngradeWhen;
}

const CONDITION_NAMES = optionNames<DowngradeWhen>({ remainingBelow: true, remainingTokensBelow: true, remainingUsdBelow: true });
const RULE_OPTION_NAMES = optionNames<DowngradeRule>({ model: true, when: true });
const SUMMARIZER_OPTION_NAMES = optionNames<SummarizerOptions>({
  client: true,
  model: true,
  maxInput: true,
  maxOutput: true,
  prompt: true,
  timeoutMs: true,
});

function invalid(message: string): never {
  throw new TokenBudgetConfigError('TB_INVALID_OPTION', message);
}

function readWhen(when: unknown, path: string): DowngradeWhen {
  if (typeof when !== 'object' || when === null) invalid(`${path} must be an object, e.g. { remainingBelow: 0.2 }.`);
  const given = when as Record<string, unknown>;
  checkOptionNames(given, CONDITION_NAMES, path);
  const conditions = [...CONDITION_NAMES];
  if (!conditions.some((name) => given[name] !== undefined)) invalid(`${path} needs at least one of ${conditions.join(', ')}.`);
  const { remainingBelow, remainingTokensBelow, remainingUsdBelow } = given;
  if (remainingBelow !== undefined && !(typeof remainingBelow === 'number' && remainingBelow > 0 && remainingBelow <= 1)) {
    invalid(
      `${path}.remainingBelow must be a fraction of the limit, above 0 and at most 1; got ${JSON.stringify(remainingBelow)}.`,
    );
  }
  if (
    remainingTokensBelow !== undefined &&
    !(Number.isSafeInteger(remainingTokensBelow) && (remainingTokensBelow as number) > 0)
  ) {
    invalid(`${path}.remainingTokensBelow must be a positive integer; got ${JSON.stringify(remainingTokensBelow)}.`);
  }
  if (
    remainingUsdBelow !== undefined &&
    !(typeof remainingUsdBelow === 'number' && Number.isFinite(remainingUsdBelow) && remainingUsdBelow > 0)
  ) {
    invalid(`${path}.remainingUsdBelow must be a positive amount of USD; got ${JSON.stringify(remainingUsdBelow)}.`);
  }
  return given as DowngradeWhen;
}

/**
 * Reads a feature's `downgrade`; `resolve` resolves a model name as the feature's own
 * model is (aliases, the model table, the fallback encoding).
 */
export function readDowngrade(
  value: unknown,
  path: string,
  feature: { maxInput: number; maxOutput: number },
  resolve: (model: unknown, path: string) => ModelInfo,
): DowngradeStep[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid(`${path} must be an array of { model, when }.`);
  return value.map((rule: unknown, i) => {
    const at = `${path}[${i}]`;
    if (typeof rule !== 'object' || rule === null) invalid(`${at} must be { model, when }.`);
    checkOptionNames(rule, RULE_OPTION_NAMES, at);
    const { model, when } = rule as { model?: unknown; when?: unknown };
    const modelInfo = resolve(model, `${at}.model`);
    const maxOutput = Math.min(feature.maxOutput, modelInfo.maxOutputTokens ?? Infinity);
    if (modelInfo.contextWindow !== undefined && feature.maxInput + maxOutput > modelInfo.contextWindow) {
      throw new TokenBudgetConfigError(
        'TB_OVER_CONTEXT',
        `${at}: maxInput ${feature.maxInput} + maxOutput ${maxOutput} is more than the ${modelInfo.contextWindow}-token context window of ${String(model)}; the API would refuse such a call.`,
      );
    }
    return { model: model as string, modelInfo, maxOutput, when: readWhen(when, `${at}.when`) };
  });
}

/** A summarizer as read: its model resolved, its figures checked. */
export interface SummarizerConfig {
  client: ChatCompletionsClient;
  model: string;
  modelInfo: ModelInfo;
  maxInput: number;
  maxOutput: number;
  prompt: string;
  timeoutMs: number;
  fallback: 'truncate' | 'reject';
  cache: SummaryCache | undefined;
}

export const DEFAULT_SUMMARY_PROMPT =
  'Summarize the conversation below for the assistant that continues it: keep names, facts, decisions, open questions. Write only the summary.';

function positive(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw new TokenBudgetConfigError('TB_INVALID_LIMIT', `${path} must be a positive integer; got ${JSON.stringify(value)}.`);
  }
  return value as number;
}

/** Reads a feature's `summarizer`, `summarizeFallback` and `summaryCache`; `undefined` without a summarizer. */
export function readSummarizer(
  feature: Pick<FeatureOptions, 'summarizer' | 'summarizeFallback' | 'summaryCache'>,
  path: string,
  resolve: (model: unknown, path: string) => ModelInfo,
): SummarizerConfig | undefined {
  const { summarizer, summarizeFallback = 'truncate', summaryCache } = feature;
  if (summarizeFallback !== 'truncate' && summarizeFallback !== 'reject') {
    invalid(`${path}.summarizeFallback must be 'truncate' or 'reject'; got ${JSON.stringify(summarizeFallback)}.`);
  }
  if (summaryCache !== undefined && (typeof summaryCache?.get !== 'function' || typeof summaryCache?.set !== 'function')) {
    invalid(`${path}.summaryCache must be { get(key), set(key, summary) }.`);
  }
  if (summarizer === undefined) return undefined;
  const at = `${path}.summarizer`;
  if (typeof summarizer !== 'object' || summarizer === null) invalid(`${at} must be { client, model, maxInput, maxOutput }.`);
  checkOptionNames(summarizer, SUMMARIZER_OPTION_NAMES, at);
  if (typeof summarizer.client?.chat?.completions?.create !== 'function') {
    invalid(`${at}.client must be an OpenAI client (e.g. new OpenAI()).`);
  }
  const modelInfo = resolve(summarizer.model, `${at}.model`);
  const prompt = summarizer.prompt ?? DEFAULT_SUMMARY_PROMPT;
  if (typeof prompt !== 'string' || prompt === '') invalid(`${at}.prompt must be a non-empty string.`);
  return {
    client: summarizer.client,
    model: summarizer.model,
    modelInfo,
    maxInput: positive(summarizer.maxInput, `${at}.maxInput`),
    maxOutput: positive(summarizer.maxOutput, `${at}.maxOutput`),
    prompt,
    timeoutMs: summarizer.timeoutMs === undefined ? 30_000 : positive(summarizer.timeoutMs, `${at}.timeoutMs`),
    fallback: summarizeFallback,
    cache: summaryCache,
  };
}

/** `onExceed: 'summarize'` needs the feature's summarizer. */
export function checkSummarizer(onExceed: unknown, summarizer: SummarizerConfig | undefined, path: string): void {
  if (onExceed === 'summarize' && !summarizer) {
    invalid(`${path}: onExceed 'summarize' needs the feature's summarizer: { client, model, maxInput, maxOutput }.`);
  }
}
