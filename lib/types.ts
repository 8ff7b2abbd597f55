// Public options of token-budget; every option carries its default in its doc comment.
import type { CallOptions, ClientGonePolicy, MissingUsagePolicy, ModelApi } from './call';
import type { ChatMessage, ToolDefinition } from './messages';
import type { ScopeState, Store, UnavailablePolicy } from './store/types';
import type { EncodingName } from './tokens/models';

export type { ChatMessage, ContentPart, ToolCall, ToolDefinition } from './messages';
export type { Store, UnavailablePolicy } from './store/types';
export type { EncodingName } from './tokens/models';

/**
 * What an error response handler receives: an http-errors error (`createError.isHttpError`
 * is true for it) with a JSON `body`. Thrown as a `BudgetRefusal`.
 */
export interface BudgetHttpError extends Error {
  status: number;
  statusCode: number;
  /** Always true: every message is written for the client. */
  expose: boolean;
  /** The `error.type` of the response body, e.g. `user_quota_exceeded`. */
  type: string;
  /** The JSON body that would be sent. */
  body: { error: ErrorBody };
  /** Headers that go with it (`Retry-After`, `RateLimit`, `RateLimit-Policy`). */
  headers: Record<string, string>;
}

/** The `error` object of every JSON error this package sends. */
export interface ErrorBody {
  type: string;
  message: string;
  /** Which budget refused or lacked a principal: `feature`, `global`, or a quota's name (`user`, `team`, …); absent otherwise. */
  scope?: string;
  limit?: number;
  remaining?: number;
  /** ISO 8601 instant at which the refusing budget admits more. */
  reset_at?: string;
}

/** The `error.type` values this package answers with. */
export type RefusalType =
  | 'invalid_request'
  | 'user_required'
  | 'principal_required'
  | 'input_too_large'
  | 'feature_quota_exceeded'
  | 'user_quota_exceeded'
  | 'quota_exceeded'
  | 'global_rate_limited'
  | 'internal_error'
  | 'upstream_error'
  | 'budget_unavailable'
  | 'feature_disabled'
  | 'spend_cap_reached'
  | 'upstream_rate_limited'
  | 'upstream_timeout';

/** What a refusal carries besides its type and message. */
export interface RefusalDetails {
  /** The budget that refused, with its figures (only the requester's own). */
  scope?: ScopeState;
  /** The quota named in `error.scope` when there is no scope state (a missing principal). */
  scopeName?: string;
  /** Seconds after which a retry may succeed, when known. */
  retryAfterSeconds?: number;
  /** Told once to the budget's `onWarning` by whoever answers the refusal; never to the client. */
  warning?: BudgetWarning;
}

/** `budget.flags`: switches that every process checks without a store round trip. */
export interface FeatureFlags {
  /**
   * Switches flag `name` on or off in every process sharing the store (within 1 s).
   * Rejects, without changing anything here, when the store cannot be written in time.
   */
  set(name: string, on: boolean): Promise<void>;
  /** The flag as this process knows it; `undefined` when it was never set (each `featureFlag` then uses its `default`). */
  get(name: string): Promise<boolean | undefined>;
  /** Every flag that was set, by name. */
  list(): Promise<Record<string, boolean>>;
  /** Stops listening for changes (closing the connection opened for it) and re-reading; known values stay readable. */
  close(): Promise<void>;
}

/** A model's price in USD per 1M tokens, as OpenAI publishes it. */
export interface ModelPrice {
  /** Uncached input (prompt) tokens. */
  input: number;
  /** Cached input tokens. @default `input` (no caching discount) */
  cachedInput?: number;
  /** Output (completion) tokens, reasoning tokens included. */
  output: number;
}

/**
 * The framework a budget's middlewares run on, as their options see it: what the app's
 * callbacks (`user`, `tier`, `messages`, `respond`, …) receive — Express's `req`, Koa's
 * `ctx` — and what `onReject` is. 'token-budget' binds it to Express, 'token-budget/koa' to Koa.
 */
export interface Framework {
  request: unknown;
  onReject: unknown;
}

/** Any framework: the options as the framework-free core reads them, whichever adapter took them. */
export interface AnyFramework extends Framework {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  request: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  onReject: any;
}

/** How errors leave a middleware. */
export interface ErrorOptions<F extends Framework = AnyFramework> {
  /**
   * Shapes the error response. Default: the budget's `onReject`, else a JSON body
   * `{ error: { type, message, scope, limit, remaining, reset_at } }` with the error's status.
   */
  onReject?: F['onReject'];
  /**
   * `'next'` passes the error to Express's `next(err)` for apps with their own
   * error handler; `'respond'` answers with `onReject` or the JSON body.
   * @default the budget's `errors`, else 'respond'
   */
  errors?: 'respond' | 'next';
}

/**
 * `'enforce'`: budgets refuse, cap and degrade. `'shadow'`: they never do — the model is
 * called as if they did not exist — yet count the real usage, and each refusal or
 * degradation they would have made is reported (`onShadow`, the `Token-Budget-Shadow`
 * header, `req.tokenBudget.shadowed`).
 */
export type BudgetMode = 'enforce' | 'shadow';

/** The `mode` option of the budget and of each budgeting middleware. */
export interface ModeOptions {
  /**
   * Whether this middleware's budgets are enforced or only watched (shadow mode).
   * @default the budget's `mode`, else 'enforce'
   */
  mode?: BudgetMode;
}

/** What a budget in shadow mode would have done to a request, and did not. */
export interface ShadowEvent {
  /** `'refuse'`: the request would have been answered `status` with `error.type` `code`; `'degrade'`: its input would have been degraded by strategy `code`. */
  action: 'refuse' | 'degrade';
  /** The refusal's `error.type` (`user_quota_exceeded`, `input_too_large`, …) or the degrading strategy (`truncate`, `custom`). */
  code: string;
  /** The request's feature. */
  feature: string;
  /** The budget that would have refused: `feature`, `global`, `spend` or a quota's name (`user`, `team`, …). */
  scope?: string;
  /** The HTTP status the refusal would have had. */
  status?: number;
  /** The refusal's message, or what the degradation would have done. */
  message: string;
}

/** What a custom over-budget strategy receives. */
export interface ExceedContext {
  messages: ChatMessage[];
  /** Input tokens counted (or a number above `maxInput` once counting stopped early). */
  inputTokens: number;
  maxInput: number;
  model: string;
  tools: ToolDefinition[] | undefined;
  /** Counts messages the way the budget does (tools included). */
  countTokens(messages: ChatMessage[]): number;
}

/** A custom strategy returns new messages; they are counted again and still enforced. */
export type ExceedStrategy = (context: ExceedContext) => ChatMessage[] | Promise<ChatMessage[]>;

/**
 * What to do when the input is over `maxInput`:
 * - `'reject'`: 413 `input_too_large`;
 * - `'truncate'`: keep every system/developer message and the newest turns that fit
 *   (an assistant `tool_calls` message stays with its `tool` results; the newest user
 *   message is always kept, and if it alone cannot fit: 413);
 * - `'summarize'`: replace the oldest turns that do not fit with one summary written by the
 *   feature's `summarizer` (system/developer messages, tool-call pairs and the newest turns stay
 *   whole); when the summary fails or still does not fit, `summarizeFallback` applies;
 * - a function returning new messages.
 */
export type OnExceed = 'reject' | 'truncate' | 'summarize' | ExceedStrategy;

/**
 * Where summaries are kept, so that a conversation that resends its history is not
 * summarized again every turn (e.g. Redis: `get: k => redis.get(k)`, `set: (k, v) => redis.set(k, v, { EX: 3600 })`).
 * The key is a hash of the summarizer's model, prompt and the summarized messages.
 */
export interface SummaryCache {
  get(key: string): Promise<string | null | undefined> | string | null | undefined;
  set(key: string, summary: string): Promise<unknown> | unknown;
}

/** The cheaper model that writes the summary of `onExceed: 'summarize'`. */
export interface SummarizerOptions {
  /** The client that calls it, e.g. `new OpenAI()`. Required. */
  client: ChatCompletionsClient;
  /** The model that writes the summary; counted, capped and priced as itself. Required. */
  model: string;
  /** Most tokens of conversation sent to it; the oldest of the summarized turns are left out beyond. Required. */
  maxInput: number;
  /** Most tokens of summary; the feature's newest turns keep room for it. Required. */
  maxOutput: number;
  /**
   * The instruction sent as its system message.
   * @default 'Summarize the conversation below for the assistant that continues it: keep names, facts, decisions, open questions. Write only the summary.'
   */
  prompt?: string;
  /**
   * Time-out of the summary call, ms; past it the call is aborted, charged, and `summarizeFallback` applies.
   * @default 30000
   */
  timeoutMs?: number;
}

/**
 * When a budget counts as running low. A condition is met when any of the request's user
 * quota, named quotas (team, …), feature daily budget or spend caps has less left than it
 * says, before this request; the global tokens-per-minute limit never triggers it, and a
 * spend meter without a cap has nothing to run low of.
 */
export interface DowngradeWhen {
  /** Less than this fraction of the budget's limit left (0 to 1, e.g. `0.2`). @default none */
  remainingBelow?: number;
  /** Fewer than this many tokens left in a token budget (quota, feature daily budget). @default none */
  remainingTokensBelow?: number;
  /** Less than this many USD left under a spend cap. @default none */
  remainingUsdBelow?: number;
}

/** A cheaper model a feature's call goes to when a budget runs low. */
export interface DowngradeRule {
  /** The model called instead; counted, capped and priced as itself (a known model or an alias). Required. */
  model: string;
  /** When it applies: at least one condition. Required. */
  when: DowngradeWhen;
}

/** Where a feature's messages come from. */
export type MessagesSource<F extends Framework = AnyFramework> = (req: F['request']) => unknown;

/** One feature: what a request of it may send and receive, and which model it calls. */
export interface FeatureOptions<F extends Framework = AnyFramework> {
  /** Most input tokens one request may send (prompt tokens as the API counts them). Required. */
  maxInput: number;
  /** Most output tokens one request may receive; at most the model's output limit. Required. */
  maxOutput: number;
  /** The model this feature calls; clients never choose it. Required. */
  model: string;
  /**
   * Tokens the feature may use per UTC day, across all users and processes sharing the store.
   * @default undefined (no daily limit)
   */
  dailyTokens?: number;
  /**
   * What the store does with the feature's daily budget while it cannot be reached.
   * @default the budget's `onStoreUnavailable`
   */
  onStoreUnavailable?: UnavailablePolicy;
  /**
   * What `featureBudget(name)` does when the input is over `maxInput`.
   * @default 'reject'
   */
  onExceed?: OnExceed;
  /**
   * Where messages come from, so an app can build the system prompt itself.
   * @default req => req.body.messages
   */
  messages?: MessagesSource<F>;
  /**
   * Cheaper models to call when a budget runs low, checked in order: the first rule whose
   * condition holds decides (list the strictest first). The call is counted with that model's
   * encoding, its output capped at `min(maxOutput, the model's output limit)`, priced at its
   * price. Costs one more store read per request before the reservation.
   * @default [] (never)
   */
  downgrade?: DowngradeRule[];
  /**
   * The model that writes summaries for `onExceed: 'summarize'`. Required with it.
   * @default undefined
   */
  summarizer?: SummarizerOptions;
  /**
   * What `'summarize'` does when the summary fails, times out, is refused by a budget, or
   * still does not fit: `'truncate'` drops the oldest turns instead, `'reject'` answers 413.
   * @default 'truncate'
   */
  summarizeFallback?: 'truncate' | 'reject';
  /**
   * A cache of summaries (see `SummaryCache`).
   * @default none
   */
  summaryCache?: SummaryCache;
}

/**
 * Stable codes of the warnings told to `onWarning` (app mistakes, failing callbacks); safe to
 * match on. `TB_SHADOW_<CODE>` names what a shadow budget would have done.
 */
export type WarningCode =
  | 'TB_NO_BODY_PARSER'
  | 'TB_NO_FEATURE_BUDGET'
  | 'TB_STRATEGY_FAILED'
  | 'TB_ON_REJECT_FAILED'
  | 'TB_INVALID_PRINCIPAL'
  | 'TB_NOT_RESERVED'
  | 'TB_NO_USAGE'
  | 'TB_RELEASE_FAILED'
  | 'TB_LISTENER_FAILED'
  | 'TB_FALLBACK_PRICE'
  | 'TB_ALERT_CALLBACK_FAILED'
  | 'TB_ALERT_WEBHOOK_FAILED'
  | 'TB_SPIKE_BASELINE_UNREADABLE'
  | 'TB_UNPRICED_RESPONSE_MODEL'
  | 'TB_NO_RESPONSES_API'
  | 'TB_UNLISTED_SNAPSHOT'
  | 'TB_CLIENT_DEPLOYMENT'
  | 'TB_ADMIN_AUTHORIZE_FAILED'
  | 'TB_ADMIN_AUDIT_FAILED'
  | 'TB_SUMMARY_FAILED'
  | 'TB_SUMMARY_CACHE_FAILED'
  | `TB_SHADOW_${Uppercase<string>}`;

/** A configuration warning: stable code, one sentence. */
export interface BudgetWarning {
  code: WarningCode;
  message: string;
}

export interface TokenBudgetOptions<F extends Framework = AnyFramework> extends ErrorOptions<F> {
  /** The feature table. Required: at least one feature. */
  features: Record<string, FeatureOptions<F>>;
  /**
   * Where budgets are counted.
   * @default memoryStore() — one process; use redisStore(client) for several.
   */
  store?: Store;
  /**
   * What a scope does while the store cannot be reached (per middleware, overridable).
   * @default 'fallback' — count in this process's memory with the same limits
   */
  onStoreUnavailable?: UnavailablePolicy;
  /**
   * Told once per outage when the store cannot be reached (and the outage policies
   * take over), and when a settlement could not be written.
   * @default console.warn
   */
  onStoreError?: (error: Error) => void;
  /**
   * Encoding used to count a model no known family matches. Without it, an unknown
   * model is a configuration error.
   * @default undefined
   */
  unknownModelEncoding?: EncodingName;
  /**
   * Most messages one request may send; more is a 400.
   * @default 1000
   */
  maxMessages?: number;
  /**
   * Receives each configuration warning once per code (e.g. a request that declared
   * budgets and ended without reserving them).
   * @default console.warn, once per code
   */
  onWarning?: (warning: BudgetWarning) => void;
  /**
   * Time-out of one model call made by `llmHandler` or `req.tokenBudget.run()`, ms;
   * past it the call is aborted, charged its reservation, and answered 504.
   * @default 600000 (the openai SDK's own 10 minutes)
   */
  callTimeoutMs?: number;
  /**
   * How long past its call's time-out a reservation is held before the store takes it
   * for a process that died mid-call and settles it at its input (the output part is
   * given back). A crash holds at most `callTimeoutMs + leaseMarginMs` of phantom tokens.
   * @default 60000
   */
  leaseMarginMs?: number;
  /**
   * A call in flight when the client disconnects: `'finish'` lets it run to its end
   * (bounded by the time-out) and counts what the provider billed; `'abort'` stops it
   * and charges its whole reservation (the provider bills what it received and generated).
   * @default 'finish'
   */
  onClientGone?: ClientGonePolicy;
  /**
   * A reply that reports no `usage` (a 200 without it, a stream without its usage
   * chunk): `'charge'` charges the whole reservation (the counted input plus the output
   * cap sent upstream), since hidden reasoning tokens and output that tokenizes shorter
   * than it was generated leave no trace in the reply; `'count-reply'` charges the
   * counted input plus the reply's output counted here — only for OpenAI-compatible
   * servers that never report usage and models without hidden tokens (it errs low on
   * any reasoning model).
   * @default 'charge'
   */
  onMissingUsage?: MissingUsagePolicy;
  /**
   * Prices (USD per 1M tokens) that replace or add rows of the published table, used
   * when a `costMeter` tracks spend; dated snapshots and `ft:` names price as their row.
   * @default none: the published table (lib/pricing/table.ts)
   */
  prices?: Record<string, ModelPrice>;
  /**
   * The price of a model no row matches. Without it, a `costMeter` refuses to start
   * when a configured model has no price (TB_UNPRICED_MODEL) — never a silent $0.
   * @default undefined
   */
  fallbackPrice?: ModelPrice;
  /**
   * Names the app calls known models by — an Azure deployment (`'prod-chat-4o': 'gpt-4o'`),
   * a router's name with its own price — each with the model it is like. A feature
   * whose `model` is an alias is counted, limited and priced as that model, and the
   * alias is the name sent upstream and shown in headers, errors and costs. A router's
   * name `vendor/model` needs no alias when `model` is a known name.
   * @default none
   */
  models?: Record<string, string | ModelAlias>;
  /**
   * `'shadow'` rolls budgets out safely: nothing is refused or degraded, real usage is
   * still counted, and what would have happened is reported. Each middleware's `mode` overrides it.
   * @default 'enforce'
   */
  mode?: BudgetMode;
  /**
   * Told of each refusal or degradation a budget in shadow mode would have made.
   * @default one warning (onWarning) per code, `TB_SHADOW_<CODE>`
   */
  onShadow?: (event: ShadowEvent) => void;
}

/** A model name the app uses for a known model, with what differs from it. */
export interface ModelAlias {
  /** The known model (or another alias) whose encoding, framing, limits, image rule and price it inherits. Required. */
  like: string;
  /** Its price in USD per 1M tokens. @default the price of the model it is like */
  prices?: ModelPrice;
  /** Most tokens of prompt and completion together. @default the context window of the model it is like */
  contextWindow?: number;
  /** Largest completion it produces. @default the output limit of the model it is like */
  maxOutput?: number;
}

/** Options of `budget.featureBudget(name, options)`. */
export interface FeatureBudgetOptions<F extends Framework = AnyFramework> extends ErrorOptions<F>, ModeOptions {
  /** @default the feature's `onExceed`, else 'reject' */
  onExceed?: OnExceed;
  /** @default the feature's `messages`, else req => req.body.messages */
  messages?: MessagesSource<F>;
}

/** A period of a user quota, in the quota's time zone. */
export type QuotaPeriod = 'hour' | 'day' | 'week' | 'month';

/** An id of a quota's principal; a number and its decimal string (`1`, `'1'`) share one counter. */
export type PrincipalId = string | number;

/** What every quota (the user's, a team's, …) is configured with. */
export interface QuotaLimitOptions<F extends Framework = AnyFramework> extends ErrorOptions<F>, ModeOptions {
  /**
   * The principal's tier, a key of `limits`.
   * @default none: every principal gets `defaultTier`
   */
  tier?: (req: F['request']) => string | undefined | null;
  /** Tokens per period, per tier (e.g. `{ free: 10_000, pro: 100_000, enterprise: 1_000_000 }`), or one number for everyone. Required. */
  limits: Record<string, number> | number;
  /**
   * Tier used when `tier(req)` returns nothing or a tier not in `limits`.
   * @default the tier with the smallest limit
   */
  defaultTier?: string;
  /**
   * A request with no principal (the id is `undefined`, `null` or `''`): `'reject'`
   * answers 401 `user_required` (user quota) or 403 `principal_required` (other quotas);
   * a tier name counts every such request in one shared anonymous budget of that tier.
   * @default 'reject'
   */
  anonymous?: 'reject' | { tier: string };
  /** @default 'day' */
  period?: QuotaPeriod;
  /** IANA time zone in which periods start at local midnight. @default 'UTC' */
  timeZone?: string;
  /** @default the budget's `onStoreUnavailable` */
  onStoreUnavailable?: UnavailablePolicy;
}

/** Options of `budget.userQuota(options)`: the quota named `user`. */
export interface UserQuotaOptions<F extends Framework = AnyFramework> extends QuotaLimitOptions<F> {
  /** The user's id, from the app (e.g. `req => req.user?.id`), never from a client header. Required. */
  user: (req: F['request']) => PrincipalId | undefined | null;
}

/** Options of `budget.quota(options)`: a token quota per principal — team, organisation, API key, tenant. */
export interface QuotaOptions<F extends Framework = AnyFramework> extends QuotaLimitOptions<F> {
  /**
   * The quota's name: its own key space, its name in the RateLimit headers and in
   * `error.scope`. 1–64 letters, digits, `_`, `.`, `-`; not `feature` or `global`.
   * `'user'` is the user quota (`budget.userQuota`). Every mount of one name must give
   * the same limits, defaultTier, anonymous, period and timeZone. Required.
   */
  name: string;
  /** The principal's id, from the app (e.g. `req => req.user?.teamId`), never from a client header. Required. */
  key: (req: F['request']) => PrincipalId | undefined | null;
}

/** Options of `budget.usageHandler(options)`. */
export interface UsageHandlerOptions {
  /** The quota reported, by name; it must have been created before. @default 'user' */
  quota?: string;
}

/** Options of `budget.globalTpm(options)`. */
export interface GlobalTpmOptions<F extends Framework = AnyFramework> extends ErrorOptions<F>, ModeOptions {
  /** Tokens per minute across all users and processes. Required. */
  limit: number;
  /** Name of this limit, so that several routes can share one or keep their own. @default 'tpm' */
  name?: string;
  /**
   * Whether the RateLimit headers show this limit (as the `"global"` item) to every
   * client. Off by default: its figures are the whole service's token use.
   * @default false
   */
  headers?: boolean;
  /** @default the budget's `onStoreUnavailable` */
  onStoreUnavailable?: UnavailablePolicy;
}

/** What `budget.usage.user(id)`, `budget.usage.quota(name, id)` and `budget.usageHandler()` report. */
export interface UserUsage {
  used: number;
  limit: number;
  remaining: number;
  /** ISO 8601 instant at which the period ends. */
  resetAt: string;
}

/**
 * The part of an OpenAI client `llmHandler` uses; `new OpenAI()` (openai ^6 or ^7)
 * fits, and so does any client with the same `chat.completions.create` (and
 * `responses.create`, for Responses API routes).
 */
export interface ChatCompletionsClient {
  chat: {
    completions: {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      create(body: any, options?: CallOptions): PromiseLike<unknown>;
    };
  };
  responses?: {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    create(body: any, options?: CallOptions): PromiseLike<unknown>;
  };
}

/** Options of `budget.llmHandler(options)`. */
export interface LlmHandlerOptions<F extends Framework = AnyFramework> extends ErrorOptions<F> {
  /** The client that calls the model, e.g. `new OpenAI()`. Required. */
  client: ChatCompletionsClient;
  /**
   * Turns the completion into the response body.
   * @default the completion JSON as the API returned it
   */
  respond?: (completion: unknown, req: F['request']) => unknown;
  /**
   * Time-out of one upstream call in ms (also the SDK's `timeout` request option); past
   * it the call is aborted, charged its reservation, and answered 504. The client's own
   * `maxRetries` is overridden: one request makes exactly one attempt.
   * @default the budget's `callTimeoutMs` (600000)
   */
  timeoutMs?: number;
  /** @default the budget's `onClientGone` ('finish') */
  onClientGone?: ClientGonePolicy;
  /**
   * Whether a body with `"stream": true` is answered as server-sent events (`'allow'`)
   * or refused with 400 invalid_request (`'forbid'`). `respond` does not apply to streams.
   * @default 'allow'
   */
  stream?: StreamPolicy;
  /**
   * The API the model is called with, and the format of the answer (and of its stream):
   * `'chat'` (chat completions) or `'responses'` (the Responses API, `client.responses.create`).
   * Either reads a body of either format (`messages`, or `input` and `instructions`).
   * @default the format of the request body: `'responses'` when it has `input` and no `messages`
   */
  api?: ModelApi;
}

/** What llmHandler does with `"stream": true`. */
export type StreamPolicy = 'allow' | 'forbid';

/** Options of `budget.featureFlag(name, options)`. */
export interface FeatureFlagOptions<F extends Framework = AnyFramework> extends ErrorOptions<F> {
  /**
   * Whether the feature is on while its flag has never been set (e.g. in an empty store).
   * @default true
   */
  default?: boolean;
  /**
   * What the route does while the flag's state is unknown: this process has never read
   * the flags from the store (it started during an outage, and the first read failed or
   * timed out). `'fail-open'` serves as if the flag were `default`; `'fail-closed'` and
   * `'fallback'` answer 503 `budget_unavailable` with `Retry-After: 1` — there is nothing
   * the store last said to fall back on, and a feature switched off in the store must
   * stay off. Once one read has succeeded, the last values read are used during outages.
   * @default the budget's `onStoreUnavailable` ('fallback')
   */
  onUnknown?: UnavailablePolicy;
}

/** An alert of `budget.costMeter`: a window's spend crossed a threshold, or an hour spiked. */
export interface SpendAlert {
  /** `threshold`: `hourlyAlertUsd` / `dailyAlertUsd` crossed; `spike`: the hour passed `spike.factor` × its baseline. */
  kind: 'threshold' | 'spike';
  window: 'hour' | 'day';
  /** The threshold crossed, USD. */
  thresholdUsd: number;
  /** The window's settled spend right after the call that crossed it, USD. */
  spentUsd: number;
  /** The feature whose spend it is, for a meter with `per: 'feature'`. */
  feature?: string;
  /** When it was detected, ISO 8601. */
  at: string;
  /** Start of the window (hour or day), ISO 8601. */
  windowStart: string;
  /** The meter's `name`. */
  meter: string;
  /** Spikes only: the average hourly spend of the 24 hours before, USD. */
  baselineUsd?: number;
}

/** Where `costMeter` POSTs its alerts (JSON, in the background: never delaying or failing a request). */
export interface AlertWebhookOptions {
  /** An http(s) URL. Required. */
  url: string;
  /**
   * Time-out of one attempt, ms.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * Attempts after the first when one fails (network error, time-out, 408, 429, 5xx); the
   * last failure is reported through the budget's `onWarning` (`TB_ALERT_WEBHOOK_FAILED`).
   * @default 3
   */
  retries?: number;
  /**
   * Wait before the first retry, ms; doubled before each next one.
   * @default 500
   */
  backoffMs?: number;
  /**
   * Headers sent with each POST (e.g. `authorization`).
   * @default {}
   */
  headers?: Record<string, string>;
}

/** `costMeter({ spike })`: one alert per hour whose spend jumps above its recent average. */
export interface SpikeOptions {
  /** An hour is a spike once its spend passes `factor` × the average hourly spend of the 24 hours before it. Required. */
  factor: number;
  /**
   * The least spend that counts as a spike, USD (so a quiet service is not paged for cents).
   * @default 1
   */
  minUsd?: number;
}

/** Options of `budget.costMeter(options)`. Amounts are USD; spend is counted in integer nano-USD. */
export interface CostMeterOptions<F extends Framework = AnyFramework> extends ErrorOptions<F>, ModeOptions {
  /**
   * Alert once when an hour's spend reaches each of these amounts.
   * @default none
   */
  hourlyAlertUsd?: number | number[];
  /**
   * Alert once when a day's spend reaches each of these amounts.
   * @default none
   */
  dailyAlertUsd?: number | number[];
  /**
   * Hard cap of an hour's spend: a request whose worst case (input + output cap at the
   * model's prices) does not fit is refused 503 `spend_cap_reached` with `Retry-After`
   * to the hour's end, and the output cap sent upstream is what the money left can pay for.
   * @default none (tracked, never refused)
   */
  hourlyCapUsd?: number;
  /**
   * Hard cap of a day's spend, as `hourlyCapUsd`.
   * @default none
   */
  dailyCapUsd?: number;
  /** @default none (no spike alerts) */
  spike?: SpikeOptions;
  /**
   * Called with each alert, after the request's call is settled; a throw or rejection
   * is reported through `onWarning` (`TB_ALERT_CALLBACK_FAILED`).
   * @default none
   */
  onAlert?: (alert: SpendAlert) => void | Promise<void>;
  /**
   * Receives each alert as a JSON POST: a URL, or options.
   * @default none
   */
  webhook?: string | AlertWebhookOptions;
  /**
   * `'global'`: one spend across all features; `'feature'`: each feature its own spend,
   * caps and alerts (alerts name the feature).
   * @default 'global'
   */
  per?: 'global' | 'feature';
  /**
   * The meter's name: meters of one name share their spend (and must be mounted with the
   * same caps, alerts, per and timeZone); 1–64 letters, digits, `_`, `.`, `-`.
   * @default 'spend'
   */
  name?: string;
  /**
   * IANA time zone of the hour and day windows.
   * @default 'UTC'
   */
  timeZone?: string;
  /**
   * Response header carrying the request's cost in USD (`0.000123450`); `true` names it
   * `X-Token-Budget-Cost-USD`.
   * @default false
   */
  costHeader?: boolean | string;
  /** @default the budget's `onStoreUnavailable` */
  onStoreUnavailable?: UnavailablePolicy;
}

/** A quota in a budget file: its limits, tiers, period and zone; the principal and tier functions stay in code. */
export type BudgetFileQuota = Omit<QuotaLimitOptions, 'tier' | 'onReject'>;

/** The global limit in a budget file. */
export type BudgetFileGlobalTpm = Omit<GlobalTpmOptions, 'onReject'>;

/** The cost meter in a budget file: caps, thresholds and webhook; `onAlert` stays in code. */
export type BudgetFileCostMeter = Omit<CostMeterOptions, 'onAlert' | 'onReject'>;

/**
 * A budget file (JSON) as `loadBudgetConfig` returns it: the options of `createTokenBudget`
 * that are data, and the limits the routes mount (quotas, global limit, cost meter), which
 * `token-budget plan` reads to work out the worst case. The store, callbacks and functions
 * stay in code: `createTokenBudget({ ...file, store })`, `budget.userQuota({ ...file.quotas.user, user })`.
 */
export interface BudgetFile extends Omit<TokenBudgetOptions, 'store' | 'onStoreError' | 'onWarning' | 'onReject' | 'onShadow'> {
  /**
   * Quotas by name, `user` being `budget.userQuota`'s.
   * @default {} (none)
   */
  quotas: Record<string, BudgetFileQuota>;
  /**
   * The options of `budget.globalTpm`.
   * @default undefined (no global limit)
   */
  globalTpm?: BudgetFileGlobalTpm;
  /**
   * The options of `budget.costMeter`.
   * @default undefined (no meter)
   */
  costMeter?: BudgetFileCostMeter;
}

/**
 * The part of a prom-client `Registry` the metrics use; `new Registry()` and prom-client's
 * global `register` fit.
 */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  registerMetric(metric: any): void;
}

/** Options of `budget.metrics(options)` (prom-client, an optional peer dependency, loaded then). */
export interface MetricsOptions {
  /**
   * Where the metrics are registered.
   * @default prom-client's global registry (`register`)
   */
  registry?: MetricsRegistry;
  /**
   * Prepended to every metric name.
   * @default 'token_budget_'
   */
  prefix?: string;
}

/** A flag switched through the admin API, as told to `onFlagChange`. */
export interface FlagAudit {
  flag: string;
  /** The flag before: `undefined` when it had never been set. */
  from: boolean | undefined;
  to: boolean;
  /** Who switched it: `actor(req)`. */
  by: string;
  /** ISO 8601. */
  at: string;
}

/** Options of `budget.adminRouter(options)`. */
export interface AdminRouterOptions<F extends Framework = AnyFramework> {
  /**
   * Whether this request may see and act on the admin API and dashboard. Required: there
   * is no default that lets anyone in. A throw or rejection refuses the request.
   */
  authorize: (req: F['request']) => boolean | Promise<boolean>;
  /**
   * A `WWW-Authenticate` challenge sent with refusals, which are then 401 (e.g.
   * `'Basic realm="token-budget"'` makes a browser ask for a password); without it they are 403.
   * @default none (403)
   */
  challenge?: string;
  /**
   * Names who made a request, for the audit of flag switches.
   * @default req => req.ip
   */
  actor?: (req: F['request']) => string | undefined;
  /**
   * Told of every flag switched through the API (who, when, from what).
   * @default one console.info line
   */
  onFlagChange?: (change: FlagAudit) => void;
  /**
   * Most principals the top list may hold.
   * @default 100
   */
  maxTopPrincipals?: number;
}

/**
 * The budgets of an app, each middleware in its framework's shape: `Middleware` (and
 * `ErrorMiddleware`, its error handler) for Express or Koa.
 */
export interface BudgetMiddlewares<F extends Framework, Middleware, ErrorMiddleware = Middleware> {
  /** 503 `feature_disabled` while flag `name` is off; a flag never set is `options.default` (on). No store round trip. */
  featureFlag(name: string, options?: FeatureFlagOptions<F>): Middleware;
  /** Kill switches shared by every process on the store (each process's own with the memory store). */
  readonly flags: FeatureFlags;
  /** Counts the input of feature `name`, degrades or rejects it, caps the output, declares its daily budget. */
  featureBudget(name: string, options?: FeatureBudgetOptions<F>): Middleware;
  /** Declares the requesting user's quota for the current period: the quota named `user`. */
  userQuota(options: UserQuotaOptions<F>): Middleware;
  /** Declares the quota `options.name` (team, organisation, API key, …) of the request's principal for the current period. */
  quota(options: QuotaOptions<F>): Middleware;
  /** Declares a tokens-per-minute limit shared by all users and processes. */
  globalTpm(options: GlobalTpmOptions<F>): Middleware;
  /**
   * Declares the spend of this hour and day (global or per feature) in nano-USD at the model's
   * prices, with optional hard caps; alerts once per threshold and window, and on spikes.
   */
  costMeter(options?: CostMeterOptions<F>): Middleware;
  /** Reserves every declared budget, calls the model with the computed limits, settles with the real usage. */
  llmHandler(options: LlmHandlerOptions<F>): Middleware;
  /** GET handler answering `{ used, limit, remaining, resetAt }` of the requester's quota (default: the user quota). */
  usageHandler(options?: UsageHandlerOptions): Middleware;
  /**
   * Answers refusals thrown through run(), model-client errors and bad bodies as this package's
   * JSON errors: after the routes on Express, first on Koa (it answers what is thrown below it).
   */
  errorHandler(): ErrorMiddleware;
  usage: {
    /** What user `id` has used and has left this period (tier default: the quota's defaultTier). */
    user(id: PrincipalId, tier?: string): Promise<UserUsage>;
    /** What principal `id` of quota `name` has used and has left this period (tier default: the quota's defaultTier). */
    quota(name: string, id: PrincipalId, tier?: string): Promise<UserUsage>;
  };
  /** Builds the encoders of every configured model now, so the first request does not pay for it (~1 s). */
  warmup(): void;
  /**
   * Registers Prometheus metrics (prom-client, loaded now) of every request of this budget:
   * tokens and cost by feature and model, refusals, degradations, reservations in flight,
   * store errors, outage policies, late spend, reserve and settle latency. No user ids as labels.
   */
  metrics(options?: MetricsOptions): void;
  /** The store every budget counts in (wrapped in the outage policies). */
  readonly store: Store;
}
