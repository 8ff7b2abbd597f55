// The budget context of one request: what was planned, then reserve → call → settle or release.
import type { ChatMessage, ToolDefinition } from './messages';
import { BudgetRefusal, quotaRefusal } from './refusal';
import { StoreUnavailableError } from './store/unavailable';
import type { Reservation, ScopeRequest, ScopeState, Store } from './store/types';
import type { ModelInfo } from './tokens/models';
import type { Warn } from './warnings';

/** What a degrading strategy did to the messages. */
export interface Degradation {
  strategy: 'truncate' | 'custom';
  droppedMessages: number;
  originalTokens: number;
}

/** Token usage as the chat-completions API reports it. */
export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

/** The parameters `run` passes to the model call. */
export type CallParams = Record<string, unknown> & {
  model: string;
  messages: ChatMessage[];
};

/**
 * `reserving`: the store is being asked (a second reserve is refused, not doubled);
 * `calling`: reserved, and `run` is waiting for the model — only `run` settles or releases then.
 */
export type BudgetState = 'planned' | 'reserving' | 'reserved' | 'calling' | 'settled' | 'released' | 'refused';

export interface BudgetContextInit {
  feature: string;
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
}

/**
 * The budget context on `req.tokenBudget`. Middlewares declare scopes; `run` (or
 * `reserve` + `settle`/`release`) takes one all-or-nothing reservation for all of them.
 */
export class BudgetContext {
  readonly feature: string;
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

  private reservation: Reservation | undefined;
  /** The response is over (`end` ran). */
  private ended = false;
  /** `end` gave the reservation back while a manual call may still be billed (see `settle`). */
  private releasedAtEnd = false;
  private readonly store: Store;
  private readonly warn: Warn;
  private readonly now: () => number;

  constructor(init: BudgetContextInit) {
    this.feature = init.feature;
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
  }

  /** Adds a budget; a scope with the same key replaces the earlier one (a route may re-declare). */
  declare(scope: ScopeRequest): void {
    if (this.state !== 'planned') {
      throw new Error(`token-budget: a ${scope.kind} budget was declared after the reservation was taken`);
    }
    const same = this.scopes.findIndex((s) => s.key === scope.key);
    if (same >= 0) this.scopes[same] = scope;
    else this.scopes.push(scope);
  }

  /**
   * Takes the reservation for every declared scope at once and returns the output cap.
   * Throws a BudgetRefusal when a scope cannot afford the input plus one output token,
   * or when the store cannot be reached and a scope fails closed.
   */
  async reserve(): Promise<number> {
    if (this.state !== 'planned') throw new Error(`token-budget: reserve() called in state ${this.state}`);
    if (this.scopes.length === 0) {
      this.state = 'reserved';
      this.outputCap = this.maxOutput;
      return this.outputCap;
    }
    this.state = 'reserving';
    let result;
    try {
      result = await this.store.reserve({ scopes: this.scopes, input: this.inputTokens, maxOutput: this.maxOutput });
    } catch (err) {
      this.state = 'refused';
      if (err instanceof StoreUnavailableError) {
        throw new BudgetRefusal('budget_unavailable', 'Token budgets cannot be checked right now; retry shortly.', {
          retryAfterSeconds: 1,
        });
      }
      throw err;
    }
    this.scopeStates = result.scopes;
    if (!result.ok) {
      this.state = 'refused';
      throw quotaRefusal(result.refused, this.now());
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
   * Moves every reserved counter to what the call really used. After `end` gave a
   * manual reservation back (the client left mid-call), what the model billed is
   * still added.
   */
  async settle(usage: Usage | undefined): Promise<void> {
    const reservation = this.reservation;
    if (this.state === 'released' && this.releasedAtEnd && reservation) {
      this.state = 'settled';
      const given = { ...reservation, parts: reservation.parts.map((part) => ({ ...part, amount: 0 })) };
      await this.store.settle(given, this.actualTokens(usage, reservation));
      return;
    }
    if (this.state !== 'reserved' && this.state !== 'calling') return;
    this.state = 'settled';
    if (!reservation) return;
    const actual = this.actualTokens(usage, reservation);
    await this.store.settle(reservation, actual);
    // What the headers report: the budgets after the call, not while it was reserved.
    this.scopeStates = this.scopeStates.map((state, i) => {
      const used = Math.max(0, state.used + actual - (reservation.parts[i]?.amount ?? actual));
      return { ...state, used, remaining: Math.max(0, state.limit - used) };
    });
  }

  /** Gives the reservation back (the call failed, was aborted, or never happened). */
  async release(): Promise<void> {
    if (this.state !== 'reserved' && this.state !== 'calling') return;
    this.state = 'released';
    if (this.reservation) await this.store.release(this.reservation);
  }

  /** The parameters for the model call: the feature's model, the (degraded) messages, the cap. */
  callParams(): CallParams {
    if (this.outputCap === undefined) throw new Error('token-budget: callParams() before reserve()');
    const params: CallParams = { ...this.forwardParams, model: this.model, messages: this.messages };
    if (this.tools) params.tools = this.tools;
    params[this.modelInfo.outputParam] = this.outputCap;
    return params;
  }

  /**
   * Reserves, calls the model with the computed parameters, then settles with the
   * result's `usage` — or releases if the call throws.
   */
  async run<T>(call: (params: CallParams) => Promise<T> | T): Promise<T> {
    await this.reserve();
    let result: T;
    this.state = 'calling';
    try {
      result = await call(this.callParams());
    } catch (err) {
      await this.release();
      throw err;
    }
    await this.settle(usageOf(result));
    return result;
  }

  /**
   * Called when the response is over: releases a reservation nobody settled, and
   * reports budgets that were declared but never reserved on a response that was
   * served (`served`: a success status) — a refused or failed request is no
   * misconfiguration. A call still in flight (the client went away) is left to
   * `run`, which settles what the model billed even if it answers after the
   * disconnect, or releases if the call was aborted.
   */
  async end(served: boolean): Promise<void> {
    this.ended = true;
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

  private actualTokens(usage: Usage | undefined, reservation: Reservation): number {
    const total = usage?.total_tokens ?? (usage?.prompt_tokens ?? NaN) + (usage?.completion_tokens ?? NaN);
    if (Number.isFinite(total) && total >= 0) return Math.round(total);
    this.warn(
      'TB_NO_USAGE',
      `A call of feature "${this.feature}" returned no usage; it was settled at the reserved amount.`,
    );
    return reservation.input + reservation.outputCap;
  }
}

function usageOf(result: unknown): Usage | undefined {
  if (typeof result === 'object' && result !== null && 'usage' in result) {
    const usage = (result as { usage: unknown }).usage;
    if (typeof usage === 'object' && usage !== null) return usage as Usage;
  }
  return undefined;
}
