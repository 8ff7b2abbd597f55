// Call shapes: what `run` hands to the model call and the policies around it; declarations only.

/** What a degrading strategy did to the messages. */
export interface Degradation {
  strategy: 'truncate' | 'custom';
  droppedMessages: number;
  originalTokens: number;
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
