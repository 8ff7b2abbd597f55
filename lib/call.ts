// Call shapes: what `run` hands to the model call and the policies around it; declarations only.
import type { CallUsage } from './store/types';

/** What degrading did: to the messages (`truncate`, `summarize`, `custom`), or to the model only (`downgrade`). */
export interface Degradation {
  strategy: 'truncate' | 'summarize' | 'custom' | 'downgrade';
  droppedMessages: number;
  originalTokens: number;
  /** Set when the call went to a cheaper model, whatever was done to the messages before. */
  downgrade?: ModelDowngrade;
  /** Set by `summarize`: the summary's model, what it replaced, the tokens before and after, what it cost. */
  summary?: SummaryRecord;
}

/** What a downgrade did: the model called instead of the feature's, and the budget that ran low. */
export interface ModelDowngrade {
  /** The feature's model. */
  from: string;
  /** The model called instead. */
  to: string;
  /** The budget that ran low: `feature`, a quota's name (`user`, `team`, …) or a meter's name. */
  scope: string;
  /** What that budget had left before this request (a spend scope: nano-USD), and its limit. */
  remaining: number;
  limit: number;
}

/** What summarizing did, in `req.tokenBudget.degraded.summary`. */
export interface SummaryRecord {
  /** The model that wrote the summary. */
  model: string;
  /** Messages the summary replaced. */
  summarizedMessages: number;
  /** The feature's prompt tokens before (the whole conversation) and after (with the summary). */
  tokensBefore: number;
  tokensAfter: number;
  /** What the summary call was charged, in tokens of the summarizer's model; zero when the summary came from the cache. */
  usage: CallUsage;
  /** The summary came from `summaryCache`: no call was made. */
  cached: boolean;
}

/**
 * What a call in flight does when the client goes away: `'finish'` lets it run to
 * its end (bounded by the time-out) and settles what the provider billed; `'abort'`
 * stops it and charges the whole reservation (the provider bills the prompt and
 * what it generated before it noticed).
 */
export type ClientGonePolicy = 'finish' | 'abort';

/**
 * What a reply without `usage` is charged: `'charge'` the whole reservation (the rule
 * that errs high: reasoning tokens leave no trace in the reply), `'count-reply'` the
 * counted input plus the reply's output counted here.
 */
export type MissingUsagePolicy = 'charge' | 'count-reply';

/** Request options `run` hands to the model call, in the openai SDK's shape. */
export interface CallOptions {
  /** Aborted when the call's time-out passes (and, with `onClientGone: 'abort'`, when the client leaves). */
  signal: AbortSignal;
  /** The call's time-out in ms. */
  timeout: number;
  /** Exactly one attempt: each attempt that reaches the provider is billed, and one reservation pays for one. */
  maxRetries: 0;
}

/** The API a call is made with: chat completions, or the Responses API. */
export type ModelApi = 'chat' | 'responses';

/** Per-call options of `run`. */
export interface RunOptions {
  /**
   * The API `call` uses, which decides the shape of `params`: `'chat'` (`messages`,
   * `max_tokens`) or `'responses'` (`input`, `instructions`, `max_output_tokens`).
   * @default 'chat'
   */
  api?: ModelApi;
  /** @default the budget's `callTimeoutMs` */
  timeoutMs?: number;
  /** @default the budget's `onClientGone` */
  onClientGone?: ClientGonePolicy;
}

/** Why `run` stopped a call before it answered. */
export type StopReason = 'timeout' | 'client-gone';
