// featureBudget: counts the input, degrades or rejects it, and puts the budget context on the request.
import type { BudgetConfig, FeatureConfig } from '../config';
import { checkFunction, checkOnExceed, checkOptionNames, fail, optionNames } from '../options/check';
import type { Degradation } from '../call';
import { BudgetContext } from '../context';
import type { Exchange } from '../exchange';
import { countWith } from '../degrade/downgrade';
import { checkSummarizer } from '../degrade/options';
import { SUMMARY_HEADING, type SummaryPlan } from '../degrade/summarize';
import { truncateToFit } from '../degrade/truncate';
import { setRateLimitHeadersOnWrite } from '../http/headers';
import type { ChatMessage, ToolDefinition } from '../messages';
import { BudgetRefusal, internalError } from '../refusal';
import { checkMode, exceedEvent } from '../shadow';
import { featureScopeKey } from '../store/keys';
import { periodAt } from '../store/periods';
import type { ScopeRequest } from '../store/types';
import { countMessageTokens } from '../tokens/chat';
import { countPrompt, plainPromptCounter, promptCounter } from '../tokens/prompt';
import type { PromptCounter } from '../tokens/prompt-counter';
import { runSliced, runSlicedNow, runWhole, WHOLE, type Slice, type Steps } from '../tokens/slice';
import type { ExceedStrategy, FeatureBudgetOptions } from '../types';
import { readBody, readForwardParams, readMessages, readTools } from '../validate';
import { isResponsesBody, readResponsesRequest } from '../responses/request';
import { readErrorOptions } from './respond';
import type { Step } from './step';

/** The parts of a request besides its messages that count as prompt. */
interface CountedRequest {
  tools: ToolDefinition[] | undefined;
  forwardParams: Record<string, unknown>;
}

interface Admitted {
  messages: ChatMessage[];
  inputTokens: number;
  degraded: Degradation | undefined;
  /** `'summarize'`: the summary to write once every budget is declared (the messages are the truncated fallback until then). */
  summary?: SummaryPlan;
}

function tooLarge(feature: FeatureConfig, detail: string): BudgetRefusal {
  return new BudgetRefusal('input_too_large', `${detail} This feature accepts at most ${feature.maxInput} input tokens.`);
}

/** The feature's daily budget, shared by every request of the feature (UTC days). */
function dailyScope(feature: FeatureConfig): ScopeRequest | undefined {
  if (feature.dailyTokens === undefined) return undefined;
  return {
    kind: 'feature',
    key: featureScopeKey(feature.name),
    limit: feature.dailyTokens,
    onUnavailable: feature.onStoreUnavailable,
    window: { kind: 'fixed', periodAt: (nowMs) => periodAt(nowMs, 'day', 'UTC') },
  };
}

async function applyStrategy(
  strategy: ExceedStrategy,
  messages: ChatMessage[],
  request: CountedRequest,
  inputTokens: number,
  feature: FeatureConfig,
  config: BudgetConfig,
): Promise<ChatMessage[]> {
  const { tools } = request;
  const counter = await runSliced((slice) => promptCounter(feature.modelInfo, tools, request.forwardParams, Infinity, slice));
  // What the app's own strategy does wrong is a 500 on the server's side, not the client's 400.
  const failed = (what: string, err: unknown) =>
    internalError(
      'TB_STRATEGY_FAILED',
      `featureBudget("${feature.name}"): the onExceed strategy ${what}: ${err instanceof Error ? err.message : String(err)}; the request was answered 500 internal_error.`,
    );
  let replaced: unknown;
  try {
    replaced = await strategy({
      messages,
      inputTokens,
      maxInput: feature.maxInput,
      model: feature.model,
      tools,
      // The app's own call, counted in one go: a strategy that counts a huge prompt holds the event loop.
      countTokens: (candidate) => runWhole(countPrompt(candidate, counter, Infinity, WHOLE)),
    });
  } catch (err) {
    throw failed('threw', err);
  }
  try {
    return readMessages(replaced, config.maxMessages);
  } catch (err) {
    throw failed('returned invalid messages', err);
  }
}

/**
 * What degrading did. `originalTokens` is counted on first read: counting all of a
 * hostile 1 MB prompt is what the early exit exists to avoid, so only an app that
 * asks for the figure pays for it.
 */
function degradation(strategy: Degradation['strategy'], droppedMessages: number, countOriginal: () => number): Degradation {
  let originalTokens: number | undefined;
  const record = { strategy, droppedMessages } as Degradation;
  Object.defineProperty(record, 'originalTokens', {
    enumerable: true,
    get: () => (originalTokens ??= countOriginal()),
  });
  return record;
}

/** Every token of the prompt, counted in one go (`Degradation.originalTokens`, on demand). */
function countWhole(messages: ChatMessage[], request: CountedRequest, feature: FeatureConfig): number {
  const counter = runWhole(promptCounter(feature.modelInfo, request.tools, request.forwardParams, Infinity, WHOLE));
  return runWhole(countPrompt(messages, counter, Infinity, WHOLE));
}

/** The prompt counter of a request and the tokens of `messages` up to the feature's `maxInput`. */
function* countWithCounter(
  messages: ChatMessage[],
  request: CountedRequest,
  feature: FeatureConfig,
  slice: Slice,
): Steps<{ counter: PromptCounter; inputTokens: number }> {
  const { modelInfo, maxInput } = feature;
  const counter =
    plainPromptCounter(modelInfo, request.tools, request.forwardParams) ??
    (yield* promptCounter(modelInfo, request.tools, request.forwardParams, maxInput, slice));
  return { counter, inputTokens: yield* countPrompt(messages, counter, maxInput, slice) };
}

/**
 * Counts the prompt and, when it is over `maxInput`, rejects or degrades it.
 * Counting stops as soon as the budget is passed, counts each piece of text at
 * most once, and gives the event loop a turn between slices of a long count. A
 * prompt counted within one slice that fits is admitted at once, without a promise.
 */
function admitInput(
  messages: ChatMessage[],
  request: CountedRequest,
  feature: FeatureConfig,
  onExceed: FeatureBudgetOptions['onExceed'],
  config: BudgetConfig,
): Admitted | Promise<Admitted> {
  if (onExceed === 'truncate') return truncateInput(messages, request, feature);
  if (onExceed === 'summarize') return summarizeInput(messages, request, feature);
  // The fixed part and the messages in one run.
  const counted = runSlicedNow((slice) => countWithCounter(messages, request, feature, slice));
  const judge = ({ counter, inputTokens }: { counter: PromptCounter; inputTokens: number }) => {
    if (inputTokens <= feature.maxInput) return { messages, inputTokens, degraded: undefined };
    if (onExceed === 'reject' || onExceed === undefined) throw tooLarge(feature, 'The input is too large.');
    return degradeByStrategy(onExceed, counter, inputTokens, messages, request, feature, config);
  };
  return counted instanceof Promise ? counted.then(judge) : judge(counted);
}

/** Shadow mode admits the whole prompt, counted to its end: the reservation errs high, never low. */
async function admitWhole(messages: ChatMessage[], request: CountedRequest, feature: FeatureConfig): Promise<Admitted> {
  const inputTokens = await countWith(feature.modelInfo, messages, request.tools, request.forwardParams);
  return { messages, inputTokens, degraded: undefined };
}

/** Truncation counts from the newest turn back; a prompt that fits loses nothing. */
async function truncateInput(messages: ChatMessage[], request: CountedRequest, feature: FeatureConfig): Promise<Admitted> {
  const { maxInput } = feature;
  const counter = await runSliced((slice) =>
    promptCounter(feature.modelInfo, request.tools, request.forwardParams, maxInput, slice),
  );
  const kept = await runSliced((slice) => truncateToFit(messages, counter, maxInput, slice));
  if (!kept) throw tooLarge(feature, 'The newest user message does not fit even with older turns dropped.');
  const degraded =
    kept.droppedMessages > 0
      ? degradation('truncate', kept.droppedMessages, () => countWhole(messages, request, feature))
      : undefined;
  return { messages: kept.messages, inputTokens: kept.inputTokens, degraded };
}

/**
 * Summarizing plans which turns the summary replaces: the newest turns that fit beside a
 * summary of the summarizer's `maxOutput` stay whole, the older ones are summarized. Until
 * the summary is written (when the call is reserved), the request holds its truncation,
 * which is also what `summarizeFallback: 'truncate'` leaves.
 */
async function summarizeInput(messages: ChatMessage[], request: CountedRequest, feature: FeatureConfig): Promise<Admitted> {
  const summarizer = feature.summarizer!;
  const truncated = await truncateInput(messages, request, feature);
  if (!truncated.degraded) return truncated;
  const counter = await runSliced((slice) =>
    promptCounter(feature.modelInfo, request.tools, request.forwardParams, Infinity, slice),
  );
  const heading = countMessageTokens({ role: 'system', content: `${SUMMARY_HEADING}\n` }, feature.modelInfo);
  const room = feature.maxInput - heading - summarizer.maxOutput;
  const kept = room > 0 ? await runSliced((slice) => truncateToFit(messages, counter, room, slice)) : undefined;
  if (!kept || kept.droppedMessages === 0) {
    if (summarizer.fallback === 'reject')
      throw tooLarge(feature, 'The input is too large, and its newest turns leave no room for a summary.');
    return truncated;
  }
  const keptMessages = new Set(kept.messages);
  const count = (candidate: ChatMessage[]) => countWith(feature.modelInfo, candidate, request.tools, request.forwardParams);
  return {
    ...truncated,
    summary: {
      summarizer,
      older: messages.filter((message) => !keptMessages.has(message)),
      kept: kept.messages,
      count,
      maxInput: feature.maxInput,
    },
  };
}

/** The app's own strategy replaces a prompt over `maxInput`; what it returns must fit. */
async function degradeByStrategy(
  strategy: ExceedStrategy,
  counter: PromptCounter,
  inputTokens: number,
  messages: ChatMessage[],
  request: CountedRequest,
  feature: FeatureConfig,
  config: BudgetConfig,
): Promise<Admitted> {
  const replaced = await applyStrategy(strategy, messages, request, inputTokens, feature, config);
  const replacedTokens = await runSliced((slice) => countPrompt(replaced, counter, feature.maxInput, slice));
  if (replacedTokens > feature.maxInput) throw tooLarge(feature, 'The input is still too large after the custom strategy.');
  const droppedMessages = Math.max(0, messages.length - replaced.length);
  return {
    messages: replaced,
    inputTokens: replacedTokens,
    degraded: degradation('custom', droppedMessages, () => countWhole(messages, request, feature)),
  };
}

/**
 * The parsed body; a JSON body that was never parsed (no body parser before this
 * middleware) is the app's mistake, not the client's: 500, warned once.
 */
function parsedBody(exchange: Exchange): unknown {
  const { body } = exchange;
  if (body === undefined && exchange.isJson()) {
    throw internalError(
      'TB_NO_BODY_PARSER',
      `featureBudget received a JSON body that no parser has read (the body is undefined); mount ${exchange.bodyParserHint}.`,
    );
  }
  return body;
}

const FEATURE_BUDGET_OPTION_NAMES = optionNames<FeatureBudgetOptions>({
  onExceed: true,
  messages: true,
  mode: true,
  errors: true,
  onReject: true,
});

/** Builds `budget.featureBudget(name, options)`. */
export function createFeatureBudget(config: BudgetConfig, name: string, options: FeatureBudgetOptions = {}): Step {
  const feature =
    config.features.get(name) ??
    fail('TB_UNKNOWN_FEATURE', `featureBudget("${name}"): no such feature; known: ${[...config.features.keys()].join(', ')}.`);
  checkOptionNames(options, FEATURE_BUDGET_OPTION_NAMES, `featureBudget("${name}")`);
  const onExceed = checkOnExceed(options.onExceed, `featureBudget("${name}").onExceed`) ?? feature.onExceed;
  checkSummarizer(onExceed, feature.summarizer, `featureBudget("${name}")`);
  const messagesSource = checkFunction(options.messages, `featureBudget("${name}").messages`) ?? feature.messages;
  const scope = dailyScope(feature);
  const mode = checkMode(options.mode, `featureBudget("${name}").mode`, config.mode);
  const downgrade = { steps: feature.downgrade, shadow: mode === 'shadow' };
  return { run, answer: readErrorOptions(config, options, `featureBudget("${name}")`), ends: false };

  async function run(exchange: Exchange): Promise<void> {
    // An app that builds messages itself may route bodiless requests here.
    const body = messagesSource && (exchange.body === undefined || exchange.body === null) ? {} : readBody(parsedBody(exchange));
    // A Responses body (`input`, `instructions`) is read as the same messages; its tools and parameters are its own.
    const api = isResponsesBody(body) ? 'responses' : 'chat';
    const read =
      api === 'responses'
        ? readResponsesRequest(body, config.maxMessages)
        : { messages: undefined, tools: readTools(body.tools), forwardParams: readForwardParams(body) };
    const messages = messagesSource
      ? readMessages(await messagesSource(exchange.request), config.maxMessages)
      : (read.messages ?? readMessages(body.messages, config.maxMessages));
    const { tools, forwardParams } = read;
    const counted = { tools, forwardParams };
    const admitting =
      mode === 'shadow' ? admitWhole(messages, counted, feature) : admitInput(messages, counted, feature, onExceed, config);
    const admitted = admitting instanceof Promise ? await admitting : admitting;
    const context = new BudgetContext({
      feature: feature.name,
      api,
      model: feature.model,
      modelInfo: feature.modelInfo,
      tools,
      forwardParams,
      maxOutput: feature.maxOutput,
      messages: admitted.messages,
      inputTokens: admitted.inputTokens,
      degraded: admitted.degraded,
      summary: admitted.summary,
      store: config.store,
      warn: config.warn,
      now: Date.now,
      calls: config.calls,
      observer: config.observers,
      onShadow: config.onShadow,
      downgrade,
    });
    if (mode === 'shadow' && admitted.inputTokens > feature.maxInput) {
      context.recordShadow(exceedEvent(feature, onExceed, admitted.inputTokens));
    }
    if (scope) context.declare(scope, mode);
    exchange.context = context;
    const { res } = exchange;
    // Whatever answers — llmHandler, a handler using run(), a refusal — reports the budgets as settled by then.
    setRateLimitHeadersOnWrite(res, context);
    // 'close' is emitted once per response: `on` spares the once-wrapper and its removal.
    res.on('close', () => {
      context
        .end(res.statusCode < 400)
        .catch((err: unknown) => config.warn('TB_RELEASE_FAILED', `Releasing a reservation failed: ${String(err)}`));
    });
  }
}
