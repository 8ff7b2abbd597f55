// The budget context of one request: what was planned, then reserve → call → settle or release.
import { createHash } from 'node:crypto';
import type { ChatMessage, ContentPart, TextPart, ToolCall, ToolDefinition } from './messages';
import { BudgetRefusal, quotaRefusal } from './refusal';
import { StoreUnavailableError } from './store/unavailable';
import type { CallUsage, Reservation, ScopeRequest, ScopeState, SettleReport, Store, TokenWeights } from './store/types';
import type { ModelInfo } from './tokens/models';
import { providerRefused } from './upstream';
import { amountOf } from './store/amounts';
import { billedUsage, countReplyTokens, type Usage, usageOf } from './usage';
import type { Warn } from './warnings';
import type { CallOptions, ClientGonePolicy, Degradation, MissingUsagePolicy, ModelApi, RunOptions, StopReason } from './call';
import { ChatStreamTally, type StreamTally } from './stream/chat-tally';
import { ResponsesStreamTally } from './stream/responses-tally';
import { responseInput, responseTools, type ResponseFunctionTool, type ResponseInputItem } from './responses/input';
import { RESPONSES_MIN_OUTPUT, RESPONSES_PARAMS } from './responses/request';
import { CHAT_PARAMS } from './validate';
import { liftShadowLimits, realStates, refusalEvent, wouldRefuse } from './shadow';
import { countWith, downgradeEvent, findLowBudget, modelDowngrade } from './degrade/downgrade';
import type { DowngradeStep } from './degrade/options';
import {
  boundedTranscript,
  completionText,
  summaryCacheKey,
  summaryRequest,
  transcriptLines,
  withSummary,
  type SummaryPlan,
} from './degrade/summarize';
import type { BudgetMode, ShadowEvent } from './types';

/** The model a reply says answered (a dated snapshot, say), when it names one. */
function modelOf(reply: unknown): string | undefined {
  const named = (reply as { model?: unknown } | null | undefined)?.model;
  return typeof named === 'string' ? named : undefined;
}

/**
 * Output tokens charged on top of what a stopped stream had streamed: chunks the
 * provider generated and sent before it saw the cancel, still in flight.
 */
export const STREAM_IN_FLIGHT_MARGIN = 32;

/** A call as it was settled or charged, told to `afterSettle` listeners (metrics, audit logs, the cost meter). */
export interface SettledCall {
  /** The feature the request was counted under. */
  feature: string;
  /** The configured model, as the app named it (an alias stays the alias). */
  model: string;
  /** The model the provider says answered (a dated snapshot, say), when the reply or a stream's chunks name one. */
  responseModel: string | undefined;
  /** What was charged, in tokens: the real usage, the counted reply, or the whole reservation. */
  usage: CallUsage;
  /** The settled spend of the scopes that track money (a `costMeter`), before and after this call, in nano-USD; empty without one. */
  report: SettleReport;
  /** The request's budget context (`inputTokens`, `outputCap`, `scopeStates`, `degraded`, …). */
  context: BudgetContext;
}

/** How a reservation attempt ended: granted, refused by a scope, refused for a store outage (fail-closed), or failed. */
export type ReserveOutcome = 'granted' | 'refused' | 'unavailable' | 'failed';

/**
 * Told of each reservation and of its end, for metrics: it is called on the request's
 * path, so it must only count. Timings are taken only while `active`.
 */
export interface CallObserver {
  readonly active: boolean;
  reserved(context: BudgetContext, outcome: ReserveOutcome, durationMs: number, reservation: Reservation | undefined): void;
  /**
   * A settlement was written: `call` is set when it cost something; `held` when it ended a
   * reservation this observer was told was granted (a late settle after a release is not).
   */
  ended(context: BudgetContext, durationMs: number, call: SettledCall | undefined, held: boolean): void;
}

/** Text-only content, as system, developer and tool messages take it. */
type TextContent = string | TextPart[];

/**
 * One message as `run` passes it, in the shape the openai SDK's message union takes
 * (a discriminated union, so that `client.chat.completions.create(params)` type-checks).
 */
export type CallMessage =
  | { role: 'system' | 'developer'; content: TextContent; name?: string }
  | { role: 'user'; content: string | ContentPart[]; name?: string }
  | { role: 'assistant'; content: TextContent | null; name?: string; tool_calls?: ToolCall[] }
  | { role: 'tool'; content: TextContent; tool_call_id: string };

/** The parameters `run` passes to the model call: the SDK's non-streaming chat-completions body. */
export interface CallParams {
  model: string;
  messages: CallMessage[];
  tools?: ToolDefinition[];
  max_tokens?: number;
  max_completion_tokens?: number;
  /** The app's user, hashed, when a user quota was declared. */
  safety_identifier?: string;
  stream?: false;
  /** The forwarded body parameters (temperature, stop, …). */
  [param: string]: unknown;
}

/** The parameters `run(call, { api: 'responses' })` passes: the SDK's non-streaming Responses body. */
export interface ResponseCallParams {
  model: string;
  input: ResponseInputItem[];
  instructions?: string;
  tools?: ResponseFunctionTool[];
  max_output_tokens: number;
  /** The app's user, hashed, when a user quota was declared. */
  safety_identifier?: string;
  stream?: false;
  /** The forwarded body parameters (temperature, reasoning, text, …). */
  [param: string]: unknown;
}

/** Options of a `run` whose call uses the Responses API. */
export type ResponsesRunOptions = RunOptions & { api: 'responses' };

/**
 * `reserving`: the store is being asked (a second reserve is refused, not doubled);
 * `calling`: reserved, and `run` is waiting for the model — only `run` settles or releases then.
 */
export type BudgetState = 'planned' | 'reserving' | 'reserved' | 'calling' | 'settled' | 'released' | 'refused';

export interface BudgetContextInit {
  feature: string;
  /** The API the request body was written for. @default 'chat' */
  api?: ModelApi;
  model: string;
  modelInfo: ModelInfo;
  messages: ChatMessage[];
  tools: ToolDefinition[] | undefined;
  inputTokens: number;
  maxOutput: number;
  degraded: Degradation | undefined;
  /** Body parameters known to be safe to forward (temperature, stop, …). */
  forwardParams: Record<string, unknown>;
  store: Store;
  warn: Warn;
  now: () => number;
  calls: CallSettings;
  /** @default none */
  observer?: CallObserver;
  /** Told of each refusal or degradation a shadow budget would have made. @default none */
  onShadow?: (event: ShadowEvent) => void;
  /** The feature's cheaper models; `shadow`: only told, never applied. @default none */
  downgrade?: { steps: readonly DowngradeStep[]; shadow: boolean };
  /** The summary `onExceed: 'summarize'` planned; `messages` are then the fallback's (truncated). @default none */
  summary?: SummaryPlan;
}

/** The figures a downgrade replaces. */
type Downgradable = {
  -readonly [K in 'model' | 'modelInfo' | 'inputTokens' | 'maxOutput' | 'degraded' | 'messages']: BudgetContext[K];
};

/** How `run` calls the model, from the budget's options. */
export interface CallSettings {
  /** Default time-out of a call made by `run`, ms. */
  callTimeoutMs: number;
  /** How long past its call's time-out a reservation is held before it is taken for a dead process, ms. */
  leaseMarginMs: number;
  onClientGone: ClientGonePolicy;
  onMissingUsage: MissingUsagePolicy;
}

/** Hashed user keys of the users seen last: a user's calls come in runs, and a hash costs more than a look-up. */
const safetyIdentifiers = new Map<string, string>();
const MAX_SAFETY_IDENTIFIERS = 4096;

/** The `safety_identifier` of the user quota keyed `userKey`: its SHA-256, 32 base64url characters. */
function safetyIdentifier(userKey: string): string {
  let id = safetyIdentifiers.get(userKey);
  if (id === undefined) {
    id = createHash('sha256').update(userKey).digest('base64url').slice(0, 32);
    if (safetyIdentifiers.size >= MAX_SAFETY_IDENTIFIERS) safetyIdentifiers.delete(safetyIdentifiers.keys().next().value!);
    safetyIdentifiers.set(userKey, id);
  }
  return id;
}

/** `state` once `reservation` is settled at `usage`: what its scope reserved replaced by what it used. */
function settledState(state: ScopeState, reservation: Reservation | undefined, usage: CallUsage): ScopeState {
  for (const part of reservation?.parts ?? []) {
    if (part.scope.key !== state.key) continue;
    const used = Math.max(0, state.used + amountOf(part.scope, usage) - part.amount);
    return { ...state, used, remaining: Math.max(0, state.limit - used) };
  }
  return state;
}

/** Whether a call's result is a stream (the SDK's `Stream`, any async iterable) rather than an answer. */
function isStream(result: unknown): result is AsyncIterable<unknown> {
  return typeof (result as { [Symbol.asyncIterator]?: unknown } | null | undefined)?.[Symbol.asyncIterator] === 'function';
}

/**
 * The budget context on `req.tokenBudget`. Middlewares declare scopes; `run` (or
 * `reserve` + `settle`/`release`) takes one all-or-nothing reservation for all of them.
 */
export class BudgetContext {
  readonly feature: string;
  /** The API the request body was written for: `'responses'` when it had `input` and no `messages`. */
  readonly api: ModelApi;
  readonly model: string;
  readonly modelInfo: ModelInfo;
  readonly messages: ChatMessage[];
  readonly tools: ToolDefinition[] | undefined;
  /** Prompt tokens as the API will count them. */
  readonly inputTokens: number;
  /** The feature's output cap, before the scopes had their say. */
  readonly maxOutput: number;
  readonly degraded: Degradation | undefined;
  readonly forwardParams: Record<string, unknown>;
  /** Budgets declared for this request, in declaration order. */
  readonly scopes: ScopeRequest[] = [];
  /** The output cap granted by the reservation; undefined until reserved. */
  outputCap: number | undefined;
  /** The declared scopes as last seen by the store (after reserve or refusal). */
  scopeStates: ScopeState[] = [];
  state: BudgetState = 'planned';
  /** Set when `run` stopped the call before it answered: its own time-out, or the client left. */
  stoppedBy: StopReason | undefined;
  /** What budgets in shadow mode would have refused or degraded in this request, in order. */
  readonly shadowed: ShadowEvent[] = [];

  private reservation: Reservation | undefined;
  private readonly settledListeners: ((call: SettledCall) => void)[] = [];
  /** Stops the call `run` is waiting for. */
  private stopCall: ((reason: StopReason) => void) | undefined;
  /** Clears the call's timer once it is settled. */
  private callOver: (() => void) | undefined;
  private onClientGone: ClientGonePolicy;
  private readonly callTimeoutMs: number;
  private readonly leaseMarginMs: number;
  private readonly onMissingUsage: MissingUsagePolicy;
  /** The response is over (`end` ran). */
  private ended = false;
  /** `end` gave the reservation back while a manual call may still be billed (see `settle`). */
  private releasedAtEnd = false;
  private readonly store: Store;
  private readonly warn: Warn;
  private readonly now: () => number;
  private readonly observer: CallObserver | undefined;
  /** A granted reservation the observer has not yet been told the end of. */
  private observedInFlight = false;
  /** Keys of the declared scopes in shadow mode: reserved with their limits lifted. */
  private readonly shadowKeys = new Set<string>();
  private readonly onShadow: ((event: ShadowEvent) => void) | undefined;
  private readonly downgrade: BudgetContextInit['downgrade'];
  /** The per-token prices of a model, for the money scopes of a downgraded call (set by a costMeter). */
  private spendWeightsOf: ((model: string) => TokenWeights) | undefined;
  private summaryPlan: SummaryPlan | undefined;
  /** The summary call, while it may be in flight: it ends with the response. */
  private summaryCall: BudgetContext | undefined;

  constructor(init: BudgetContextInit) {
    this.feature = init.feature;
    this.api = init.api ?? 'chat';
    this.model = init.model;
    this.modelInfo = init.modelInfo;
    this.messages = init.messages;
    this.tools = init.tools;
    this.inputTokens = init.inputTokens;
    this.maxOutput = init.maxOutput;
    this.degraded = init.degraded;
    this.forwardParams = init.forwardParams;
    this.store = init.store;
    this.warn = init.warn;
    this.now = init.now;
    this.callTimeoutMs = init.calls.callTimeoutMs;
    this.leaseMarginMs = init.calls.leaseMarginMs;
    this.onClientGone = init.calls.onClientGone;
    this.onMissingUsage = init.calls.onMissingUsage;
    this.observer = init.observer;
    this.onShadow = init.onShadow;
    this.downgrade = init.downgrade;
    this.summaryPlan = init.summary;
  }

  /**
   * Writes the summary planned by `onExceed: 'summarize'` and puts it in place of the oldest
   * turns. The summary call is a call of its own, reserved in the same budgets (at the
   * summarizer's prices) and settled before the main call is reserved. When it fails, is
   * refused, times out or its summary does not fit, the truncated messages already in place
   * stay (`summarizeFallback: 'truncate'`) or the request is refused 413 (`'reject'`).
   */
  private async summarizeFirst(plan: SummaryPlan): Promise<void> {
    const { summarizer } = plan;
    const instruction = await countWith(summarizer.modelInfo, summaryRequest(summarizer.prompt, ''), undefined, {});
    const transcript = boundedTranscript(transcriptLines(plan.older), summarizer.modelInfo, summarizer.maxInput - instruction);
    const key = summarizer.cache && summaryCacheKey(summarizer, transcript.text);
    let summary: string | undefined;
    let usage: CallUsage = { input: 0, cachedInput: 0, output: 0 };
    try {
      summary = (key && (await summarizer.cache!.get(key))) || undefined;
    } catch (err) {
      this.warn('TB_SUMMARY_CACHE_FAILED', `summaryCache.get threw: ${String(err)}; the conversation is summarized again.`);
    }
    const cached = summary !== undefined;
    if (!cached && transcript.kept > 0) {
      const messages = summaryRequest(summarizer.prompt, transcript.text);
      const call = this.summaryContext(messages, await countWith(summarizer.modelInfo, messages, undefined, {}), plan);
      call.afterSettle((settled) => (usage = settled.usage));
      try {
        const completion = await call.run((params, options) => summarizer.client.chat.completions.create(params, options), {
          timeoutMs: summarizer.timeoutMs,
        });
        summary = completionText(completion);
      } catch (err) {
        this.warn(
          'TB_SUMMARY_FAILED',
          `The summary of feature "${this.feature}" failed (${String(err)}); summarizeFallback applied.`,
        );
      }
      if (summary !== undefined && key) {
        Promise.resolve(summarizer.cache!.set(key, summary)).catch((err: unknown) =>
          this.warn('TB_SUMMARY_CACHE_FAILED', `summaryCache.set threw: ${String(err)}.`),
        );
      }
    }
    const messages = summary === undefined ? undefined : withSummary(plan.kept, summary);
    const tokensAfter = messages ? await plan.count(messages) : Infinity;
    if (!messages || tokensAfter > plan.maxInput) {
      if (summarizer.fallback === 'truncate') return;
      throw new BudgetRefusal(
        'input_too_large',
        `The input is too large and could not be summarized. This feature accepts at most ${plan.maxInput} input tokens.`,
      );
    }
    const self = this as Downgradable;
    const tokensBefore = this.degraded!.originalTokens;
    self.messages = messages;
    self.inputTokens = tokensAfter;
    self.degraded = {
      strategy: 'summarize',
      droppedMessages: plan.older.length,
      originalTokens: tokensBefore,
      summary: { model: summarizer.model, summarizedMessages: plan.older.length, tokensBefore, tokensAfter, usage, cached },
    };
  }

  /** The summary call: the summarizer's model, the request's budgets (their money at its prices), the same listeners. */
  private summaryContext(messages: ChatMessage[], inputTokens: number, { summarizer }: SummaryPlan): BudgetContext {
    const call = new BudgetContext({
      feature: this.feature,
      model: summarizer.model,
      modelInfo: summarizer.modelInfo,
      messages,
      tools: undefined,
      inputTokens,
      maxOutput: summarizer.maxOutput,
      degraded: undefined,
      forwardParams: {},
      store: this.store,
      warn: this.warn,
      now: this.now,
      calls: {
        callTimeoutMs: this.callTimeoutMs,
        leaseMarginMs: this.leaseMarginMs,
        onClientGone: this.onClientGone,
        onMissingUsage: this.onMissingUsage,
      },
      observer: this.observer,
      onShadow: this.onShadow,
    });
    for (const scope of this.scopes) {
      const priced = scope.weights && this.spendWeightsOf ? { ...scope, weights: this.spendWeightsOf(summarizer.model) } : scope;
      call.declare(priced, this.shadowKeys.has(scope.key) ? 'shadow' : 'enforce');
    }
    for (const listener of this.settledListeners) call.afterSettle(listener);
    this.summaryCall = call;
    return call;
  }

  /** How the money scopes weigh the tokens of another model than the feature's (a downgrade). */
  weighSpendWith(weightsOf: (model: string) => TokenWeights): void {
    this.spendWeightsOf = weightsOf;
  }

  /**
   * Sends the call to the first of the feature's cheaper models whose budget ran low (as
   * the store says before the reservation): its encoding counts the input, its limit caps
   * the output, its prices weigh the money scopes. In shadow mode it is only told.
   */
  private async downgradeIfLow(): Promise<void> {
    const low = await findLowBudget(this.store, this.scopes, this.downgrade!.steps);
    if (!low) return;
    const downgrade = modelDowngrade(this.model, low);
    if (this.downgrade!.shadow) return this.recordShadow(downgradeEvent(this.feature, downgrade));
    const self = this as Downgradable;
    const originalTokens = this.inputTokens;
    self.inputTokens = await countWith(low.step.modelInfo, this.messages, this.tools, this.forwardParams);
    self.model = low.step.model;
    self.modelInfo = low.step.modelInfo;
    self.maxOutput = low.step.maxOutput;
    if (this.degraded) this.degraded.downgrade = downgrade;
    else self.degraded = { strategy: 'downgrade', droppedMessages: 0, originalTokens, downgrade };
    const weightsOf = this.spendWeightsOf;
    if (weightsOf) {
      for (let i = 0; i < this.scopes.length; i++) {
        const scope = this.scopes[i]!;
        if (scope.weights) this.scopes[i] = { ...scope, weights: weightsOf(low.step.model) };
      }
    }
  }

  /**
   * Adds a budget; a scope with the same key replaces the earlier one (a route may re-declare).
   * A `'shadow'` scope counts the call but never refuses or caps it; what it would have refused is recorded.
   */
  declare(scope: ScopeRequest, mode: BudgetMode = 'enforce'): void {
    if (this.state !== 'planned') {
      throw new Error(`token-budget: a ${scope.kind} budget was declared after the reservation was taken`);
    }
    const same = this.scopes.findIndex((s) => s.key === scope.key);
    if (same >= 0) this.scopes[same] = scope;
    else this.scopes.push(scope);
    if (mode === 'shadow') this.shadowKeys.add(scope.key);
    else this.shadowKeys.delete(scope.key);
  }

  /** Records what a shadow budget would have done to this request, and tells `onShadow`. */
  recordShadow(event: ShadowEvent): void {
    this.shadowed.push(event);
    try {
      this.onShadow?.(event);
    } catch (err) {
      this.warn('TB_LISTENER_FAILED', `onShadow threw: ${String(err)}`);
    }
  }

  /**
   * Takes the reservation for every declared scope at once and returns the output cap.
   * Throws a BudgetRefusal when a scope cannot afford the input plus one output token,
   * or when the store cannot be reached and a scope fails closed. The reservation is
   * leased for the call's time-out plus the lease margin: if this process dies before
   * settling it, the store settles it at its input after that.
   */
  async reserve(callTimeoutMs = this.callTimeoutMs): Promise<number> {
    if (this.state !== 'planned') throw new Error(`token-budget: reserve() called in state ${this.state}`);
    this.state = 'reserving';
    const summaryPlan = this.summaryPlan;
    this.summaryPlan = undefined;
    if (summaryPlan) {
      try {
        await this.summarizeFirst(summaryPlan);
      } catch (err) {
        this.state = 'refused';
        throw err;
      }
    }
    if (this.scopes.length === 0) {
      this.state = 'reserved';
      this.outputCap = this.maxOutput;
      return this.outputCap;
    }
    if (this.downgrade && this.downgrade.steps.length > 0) await this.downgradeIfLow();
    const observer = this.observer?.active ? this.observer : undefined;
    const startedAt = observer ? performance.now() : 0;
    let result;
    try {
      result = await this.store.reserve({
        scopes: liftShadowLimits(this.scopes, this.shadowKeys),
        input: this.inputTokens,
        maxOutput: this.maxOutput,
        leaseMs: callTimeoutMs + this.leaseMarginMs,
      });
    } catch (err) {
      this.state = 'refused';
      const outcome = err instanceof StoreUnavailableError ? 'unavailable' : 'failed';
      observer?.reserved(this, outcome, performance.now() - startedAt, undefined);
      if (err instanceof StoreUnavailableError) {
        throw new BudgetRefusal('budget_unavailable', 'Token budgets cannot be checked right now; retry shortly.', {
          retryAfterSeconds: 1,
        });
      }
      throw err;
    }
    this.scopeStates = realStates(this.scopes, result.scopes, this.shadowKeys);
    observer?.reserved(
      this,
      result.ok ? 'granted' : 'refused',
      performance.now() - startedAt,
      result.ok ? result.reservation : undefined,
    );
    this.observedInFlight = observer !== undefined && result.ok;
    if (!result.ok) {
      this.state = 'refused';
      throw quotaRefusal(result.refused, this.inputTokens, this.now());
    }
    for (const refused of wouldRefuse(this.scopes, result.scopes, result.reservation, this.shadowKeys)) {
      this.recordShadow(refusalEvent(this.feature, quotaRefusal(refused, this.inputTokens, this.now())));
    }
    this.reservation = result.reservation;
    this.outputCap = result.reservation.outputCap;
    this.state = 'reserved';
    if (this.ended) {
      await this.release();
      throw new Error('token-budget: the response ended while the reservation was being taken; it was given back');
    }
    return this.outputCap;
  }

  /**
   * Moves every reserved counter to what the call really used: its `usage`, or
   * without one what `onMissingUsage` says (`reply` is the whole completion). After `end` gave a manual reservation back (the client left
   * mid-call), what the model billed is still added.
   */
  async settle(usage: Usage | undefined, reply?: unknown): Promise<void> {
    const reservation = this.reservation;
    if (this.state === 'released' && this.releasedAtEnd && reservation) {
      this.state = 'settled';
      // Its lease ended with the release: what was billed is added on top, without a lease.
      const given = { ...reservation, leaseId: '', input: 0, parts: reservation.parts.map((part) => ({ ...part, amount: 0 })) };
      await this.settleAt(given, this.actualUsage(usage, reply), modelOf(reply));
      return;
    }
    if (this.state !== 'reserved' && this.state !== 'calling') return;
    this.state = 'settled';
    await this.settleAt(this.reservation, this.actualUsage(usage, reply), modelOf(reply));
  }

  /**
   * Charges the whole reservation: the call was sent and no usable answer came back
   * (abandoned, cut off, garbled), so the provider billed up to that much. `responseModel`:
   * the model a stream said answered before it was cut.
   */
  async charge(responseModel?: string): Promise<void> {
    if (this.state !== 'reserved' && this.state !== 'calling') return;
    this.state = 'settled';
    await this.settleAt(
      this.reservation,
      { input: this.inputTokens, cachedInput: 0, output: this.outputCap ?? 0 },
      responseModel,
    );
  }

  /** Gives the reservation back (the call failed, was aborted, or never happened). */
  async release(): Promise<void> {
    if (this.state !== 'reserved' && this.state !== 'calling') return;
    this.state = 'released';
    if (this.reservation) await this.settleAt(this.reservation, { input: 0, cachedInput: 0, output: 0 });
  }

  /**
   * Calls `listener` once the call is settled or charged, after the store recorded it — not
   * when it is released (it cost nothing). Listeners run synchronously; one that throws is
   * reported once as TB_LISTENER_FAILED and the others still run.
   */
  afterSettle(listener: (call: SettledCall) => void): void {
    this.settledListeners.push(listener);
  }

  /**
   * Settles the reservation at `usage` (a request that declared no budgets has none),
   * moves the scope states the headers report to match, and tells the listeners what a
   * call that cost something cost, and which model the provider says answered it.
   */
  private async settleAt(reservation: Reservation | undefined, usage: CallUsage, responseModel?: string): Promise<void> {
    const startedAt = this.observer?.active ? performance.now() : 0;
    const report = reservation ? await this.store.settle(reservation, usage) : { spent: [] };
    const states = new Array<ScopeState>(this.scopeStates.length);
    for (let i = 0; i < states.length; i++) states[i] = settledState(this.scopeStates[i]!, reservation, usage);
    this.scopeStates = states;
    const call =
      usage.input + usage.output === 0
        ? undefined
        : { feature: this.feature, model: this.model, responseModel, usage, report, context: this };
    if (this.observedInFlight || (call && this.observer?.active)) {
      this.observer!.ended(this, performance.now() - startedAt, call, this.observedInFlight);
      this.observedInFlight = false;
    }
    if (!call) return;
    for (const listener of this.settledListeners) {
      try {
        listener(call);
      } catch (err) {
        this.warn('TB_LISTENER_FAILED', `A listener of settled calls threw: ${String(err)}`);
      }
    }
  }

  /** The parameters for the model call: the feature's model, the (degraded) messages, the cap. */
  callParams(): CallParams {
    if (this.outputCap === undefined) throw new Error('token-budget: callParams() before reserve()');
    // Validated messages keep to each role's shape (validate.ts): the union holds at run time.
    const params: CallParams = {
      ...this.forwardedTo(CHAT_PARAMS),
      model: this.model,
      messages: this.messages as CallMessage[],
    };
    if (this.tools) params.tools = this.tools;
    params[this.modelInfo.outputParam] = this.outputCap;
    return this.withSafetyIdentifier(params);
  }

  /** The parameters for a Responses API call: the (degraded) messages as `input` and `instructions`, the cap as `max_output_tokens`. */
  responseParams(): ResponseCallParams {
    if (this.outputCap === undefined) throw new Error('token-budget: responseParams() before reserve()');
    const params: ResponseCallParams = {
      ...this.forwardedTo(RESPONSES_PARAMS),
      model: this.model,
      ...responseInput(this.messages),
      max_output_tokens: this.outputCap,
    };
    if (this.tools) params.tools = responseTools(this.tools);
    return this.withSafetyIdentifier(params);
  }

  /** The forwarded body parameters the called API knows (a body of the other API's format may carry others). */
  private forwardedTo(known: ReadonlySet<string>): Record<string, unknown> {
    const forwarded: Record<string, unknown> = {};
    for (const name in this.forwardParams) if (known.has(name)) forwarded[name] = this.forwardParams[name];
    return forwarded;
  }

  /** The provider's abuse reports name the app's user, hashed; never an id the client chose. */
  private withSafetyIdentifier<P extends { safety_identifier?: string }>(params: P): P {
    const user = this.scopes.find((scope) => scope.kind === 'user');
    if (user) params.safety_identifier = safetyIdentifier(user.key);
    return params;
  }

  /**
   * Reserves, calls the model once with the computed parameters and request options
   * (`signal`, `timeout`, `maxRetries: 0`), then settles what the call cost:
   * - an answer: its `usage` (without one, by `onMissingUsage`);
   * - the provider refused it (an HTTP error status, a refused connection): released;
   * - it was sent and no usable answer came back (time-out, cut off, garbled, aborted
   *   because the client left): the whole reservation is charged.
   * A call that throws before returning a promise sent nothing and is released.
   * With `{ api: 'responses' }`, `call` gets the Responses API's parameters (`responseParams()`).
   * A call that returns a stream (`stream: true`) is settled as it is read, as `runStream` says:
   * `run` then returns the stream's chunks as an async generator.
   */
  run<C>(
    call: (params: CallParams, options: CallOptions) => PromiseLike<AsyncIterable<C>>,
    options?: RunOptions & { api?: 'chat' },
  ): Promise<AsyncGenerator<C, void, undefined>>;
  run<C>(
    call: (params: ResponseCallParams, options: CallOptions) => PromiseLike<AsyncIterable<C>>,
    options: ResponsesRunOptions,
  ): Promise<AsyncGenerator<C, void, undefined>>;
  run<T>(
    call: (params: CallParams, options: CallOptions) => PromiseLike<T> | T,
    options?: RunOptions & { api?: 'chat' },
  ): Promise<T>;
  run<T>(
    call: (params: ResponseCallParams, options: CallOptions) => PromiseLike<T> | T,
    options: ResponsesRunOptions,
  ): Promise<T>;
  async run<T>(call: (params: never, options: CallOptions) => PromiseLike<T> | T, options: RunOptions = {}): Promise<T> {
    const result = await this.send(call, options);
    // A stream has no usage until its end: settled as it is read, never charged its whole reservation up front.
    if (isStream(result)) return this.settleAsRead(result, this.streamTally(options.api)) as T;
    try {
      await this.settle(usageOf(result), result);
      return result;
    } finally {
      this.callOver?.();
    }
  }

  /**
   * `run` for a streamed call: `call` returns the SDK's stream (e.g.
   * `client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }, options)`),
   * and the stream returned yields its chunks as they arrive. It is settled when it ends:
   * - with its usage chunk: that usage;
   * - without one (ended, or cut by an upstream error): as a reply without usage, its output counted from the deltas;
   * - read no further (the client left, the reader stopped): aborted upstream at once and
   *   charged the input plus the output streamed so far plus `STREAM_IN_FLIGHT_MARGIN`;
   * - past its time-out: the whole reservation.
   * A stream nobody reads is always stopped: `onClientGone` does not apply. A model with
   * hidden reasoning tokens (`ModelInfo.hiddenReasoning`) read no further is charged its
   * whole reservation instead: what it generated unseen cannot be known.
   * With `{ api: 'responses' }`, `call` gets the Responses API's parameters and the stream's
   * events are read in the Responses format (the usage of `response.completed`).
   */
  runStream<C>(
    call: (params: CallParams, options: CallOptions) => PromiseLike<AsyncIterable<C>>,
    options?: Omit<RunOptions, 'onClientGone'> & { api?: 'chat' },
  ): Promise<AsyncGenerator<C, void, undefined>>;
  runStream<C>(
    call: (params: ResponseCallParams, options: CallOptions) => PromiseLike<AsyncIterable<C>>,
    options: Omit<ResponsesRunOptions, 'onClientGone'>,
  ): Promise<AsyncGenerator<C, void, undefined>>;
  async runStream<C>(
    call: (params: never, options: CallOptions) => PromiseLike<AsyncIterable<C>>,
    options: Omit<RunOptions, 'onClientGone'> = {},
  ): Promise<AsyncGenerator<C, void, undefined>> {
    const source = await this.send(call, { ...options, onClientGone: 'abort' }, true);
    return this.settleAsRead(source, this.streamTally(options.api));
  }

  /**
   * The Responses API answers 400 to an output cap below its minimum: a budget that left
   * less than that refuses the request itself (its own 429, nothing sent, nothing charged)
   * rather than let the provider refuse it as an upstream error.
   */
  private async refuseBelowResponsesMinimum(): Promise<void> {
    const granted = this.outputCap!;
    if (granted >= RESPONSES_MIN_OUTPUT || this.maxOutput < RESPONSES_MIN_OUTPUT) return;
    const taken = this.inputTokens + granted;
    // The budget that could not pay for more output (a money scope's remaining is nano-USD: counted in output tokens),
    // told with what it had left before this reservation.
    const outputLeft = (i: number) => {
      const weights = this.scopes[i]!.weights;
      return weights ? this.scopeStates[i]!.remaining / weights.output : this.scopeStates[i]!.remaining;
    };
    const tightest =
      this.scopeStates[this.scopeStates.reduce((least, _state, i) => (outputLeft(i) < outputLeft(least) ? i : least), 0)]!;
    const before = tightest.kind === 'spend' ? tightest : { ...tightest, remaining: tightest.remaining + taken };
    await this.release();
    this.state = 'refused';
    throw quotaRefusal(before, this.inputTokens, this.now(), RESPONSES_MIN_OUTPUT);
  }

  /** Counts a stream's output in its API's format, as it is read. */
  private streamTally(api: ModelApi | undefined): StreamTally {
    const encoding = this.modelInfo.encoding;
    return api === 'responses' ? new ResponsesStreamTally(encoding) : new ChatStreamTally(encoding);
  }

  /** Yields `source`'s chunks, counting them with `tally`, and settles the stream as `runStream` says once it is over. */
  private async *settleAsRead<C>(source: AsyncIterable<C>, tally: StreamTally): AsyncGenerator<C, void, undefined> {
    let readToEnd = false;
    try {
      for await (const chunk of source) {
        tally.observe(chunk);
        yield chunk;
      }
      readToEnd = true;
    } catch (err) {
      readToEnd = true;
      throw err;
    } finally {
      // The SDK ends `for await` silently when its signal is aborted: only `stoppedBy` tells.
      if (!readToEnd) this.stopCall?.('client-gone');
      this.callOver?.();
      if (this.stoppedBy === 'timeout') await this.charge(tally.model);
      else if (this.stoppedBy === 'client-gone') await this.settleAbandoned(tally.output, tally.model);
      else await this.settleStream(tally.usage, tally.output, tally.model);
    }
  }

  /**
   * Settles a stream that ended or was cut: its usage chunk, or without one what
   * `onMissingUsage` says (`countedOutput` is the output counted from its deltas).
   * `responseModel`: the model the stream's chunks say answered, if they named one.
   */
  async settleStream(usage: Usage | undefined, countedOutput: number, responseModel?: string): Promise<void> {
    if (this.state !== 'reserved' && this.state !== 'calling') return;
    this.state = 'settled';
    await this.settleAt(
      this.reservation,
      this.usageOrMissing(usage, () => countedOutput, 'A stream'),
      responseModel,
    );
  }

  /**
   * Settles a stream stopped before its end: the provider billed the prompt and what it
   * generated before it noticed — the output streamed plus up to `STREAM_IN_FLIGHT_MARGIN`
   * tokens in flight (no more than the cap allowed), never less than what was streamed.
   * A model with hidden reasoning tokens is charged the reservation.
   */
  private async settleAbandoned(streamedOutput: number, responseModel?: string): Promise<void> {
    // Reasoning tokens are generated before and between the visible deltas, unseen: only the reservation is safe.
    if (this.modelInfo.hiddenReasoning) return this.charge(responseModel);
    if (this.state !== 'reserved' && this.state !== 'calling') return;
    this.state = 'settled';
    const output = Math.max(streamedOutput, Math.min(streamedOutput + STREAM_IN_FLIGHT_MARGIN, this.outputCap ?? 0));
    await this.settleAt(this.reservation, { input: this.inputTokens, cachedInput: 0, output }, responseModel);
  }

  /**
   * Reserves and sends the call with the computed parameters and request options
   * (`signal`, `timeout`, `maxRetries: 0`); a call that failed is released (the provider
   * refused it, or it threw before sending) or charged (sent, and no usable answer came
   * back; a stream its client left before the first chunk, as `settleAbandoned` says). An
   * answered call stays `calling` until the caller settles it and calls `callOver`.
   */
  private async send<T>(
    call: (params: never, options: CallOptions) => PromiseLike<T> | T,
    options: RunOptions,
    streamed = false,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    await this.reserve(timeoutMs);
    // Set after the reservation: a summary call made while reserving keeps the budget's own policy.
    if (options.onClientGone) this.onClientGone = options.onClientGone;
    if (options.api === 'responses') await this.refuseBelowResponsesMinimum();
    this.state = 'calling';
    const abort = new AbortController();
    this.stopCall = (reason) => {
      this.stoppedBy ??= reason;
      abort.abort();
    };
    const timer = setTimeout(() => this.stopCall?.('timeout'), timeoutMs);
    this.callOver = () => {
      clearTimeout(timer);
      this.stopCall = undefined;
    };
    let pending: PromiseLike<T> | T;
    try {
      const params = options.api === 'responses' ? this.responseParams() : this.callParams();
      // The overloads of `run` and `runStream` tie `call`'s parameter type to `options.api`.
      pending = (call as (params: CallParams | ResponseCallParams, options: CallOptions) => PromiseLike<T> | T)(params, {
        signal: abort.signal,
        timeout: timeoutMs,
        maxRetries: 0,
      });
    } catch (err) {
      this.callOver();
      await this.release();
      throw err;
    }
    try {
      return await pending;
    } catch (err) {
      this.callOver();
      if (this.stoppedBy === undefined && providerRefused(err)) await this.release();
      // A stream left before its first chunk is charged like one left later: nothing streamed yet.
      else if (this.stoppedBy === 'client-gone' && streamed) await this.settleAbandoned(0);
      else await this.charge();
      throw err;
    }
  }

  /**
   * Called when the response is over: releases a reservation nobody settled, and
   * reports budgets that were declared but never reserved on a response that was
   * served (`served`: a success status) — a refused or failed request is no
   * misconfiguration. A call still in flight (the client went away) is left to
   * `run`, which settles what the model billed even if it answers after the
   * disconnect; with `onClientGone: 'abort'` it is stopped and charged.
   */
  async end(served: boolean): Promise<void> {
    this.ended = true;
    await this.summaryCall?.end(served);
    if (this.state === 'calling' && this.onClientGone === 'abort') this.stopCall?.('client-gone');
    if (this.state === 'reserved') {
      this.releasedAtEnd = true;
      await this.release();
    } else if (this.state === 'planned' && this.scopes.length > 0 && served) {
      this.warn(
        'TB_NOT_RESERVED',
        `A request of feature "${this.feature}" declared budgets but ended without reserving them; ` +
          'end the chain with llmHandler() or call req.tokenBudget.run().',
      );
    }
  }

  /**
   * What the call billed: its `usage`; without one, by `onMissingUsage` — the whole
   * reservation, or the counted input plus the reply's counted output (a reply that is
   * not a chat completion cannot be counted: the reservation, the most it was allowed).
   */
  private actualUsage(usage: Usage | undefined, reply: unknown): CallUsage {
    return this.usageOrMissing(usage, () => countReplyTokens(reply, this.modelInfo.encoding), 'A call');
  }

  /** `usage` as billed; without one, by `onMissingUsage`: the reservation, or the input plus `countOutput()`. */
  private usageOrMissing(usage: Usage | undefined, countOutput: () => number | undefined, what: string): CallUsage {
    const billed = billedUsage(usage, this.inputTokens);
    if (billed) return billed;
    const counted = this.onMissingUsage === 'count-reply' ? countOutput() : undefined;
    this.warn(
      'TB_NO_USAGE',
      `${what} of feature "${this.feature}" returned no usage; it was charged ` +
        (counted === undefined
          ? 'its whole reservation (onMissingUsage).'
          : "the counted input plus the reply's counted output."),
    );
    return { input: this.inputTokens, cachedInput: 0, output: counted ?? this.outputCap ?? 0 };
  }
}
