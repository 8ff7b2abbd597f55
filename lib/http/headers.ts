// IETF RateLimit / RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers) for quota and global budgets.
import { ServerResponse } from 'node:http';
import { DOWNGRADE_HEADER } from '../degrade/downgrade';
import { SHADOW_HEADER, shadowHeaderValue } from '../shadow';
import type { ScopeRequest, ScopeState } from '../store/types';
import type { ShadowEvent } from '../types';

/** The declared scopes of a request and what the store last said of them (a BudgetContext fits). */
export interface RateLimitSource {
  readonly scopes: readonly ScopeRequest[];
  readonly scopeStates: readonly ScopeState[];
  /** What shadow budgets would have done: named in the `Token-Budget-Shadow` header. */
  readonly shadowed?: readonly ShadowEvent[];
  /** A downgraded call's model is named in the `Token-Budget-Downgrade` header. */
  readonly degraded?: { downgrade?: { to: string } };
}

/**
 * One policy per quota (named after it: `"user"`, `"team"`, …) and per global limit shown (`inHeaders`);
 * a scope is paired with its state by key, so a store that reports fewer states
 * (an outage policy) never shifts one scope's figures onto another.
 */
export function rateLimitHeaders(
  scopes: readonly ScopeRequest[],
  states: readonly ScopeState[],
  nowMs: number,
): Record<string, string> {
  let policies = '';
  let limits = '';
  for (const scope of scopes) {
    // A feature's budget and the global limit are the service's, a spend scope's figures are the company's money:
    // none is the client's (the global limit only when the app opts in).
    const hidden = scope.kind === 'feature' || scope.kind === 'spend' || (scope.kind === 'global' && !scope.inHeaders);
    const state = hidden ? undefined : states.find((s) => s.key === scope.key);
    if (!state) continue;
    const windowSeconds =
      scope.window.kind === 'sliding' ? Math.round(scope.window.windowMs / 1000) : periodSeconds(scope.window.periodAt(nowMs));
    // A sliding window keeps one bucket more than it spans: its reset may lie up to a bucket past the window.
    const resetSeconds = Math.min(windowSeconds, Math.max(0, Math.ceil((state.resetAtMs - nowMs) / 1000)));
    const name = scope.name ?? scope.kind;
    const separator = policies === '' ? '' : ', ';
    policies += `${separator}"${name}";q=${state.limit};w=${windowSeconds}`;
    limits += `${separator}"${name}";r=${state.remaining};t=${resetSeconds}`;
  }
  if (policies === '') return {};
  return { 'RateLimit-Policy': policies, RateLimit: limits };
}

function periodSeconds(period: { startMs: number; endMs: number }): number {
  return Math.round((period.endMs - period.startMs) / 1000);
}

/** The source of each response whose head is to carry the headers. */
const sources = new WeakMap<ServerResponse, RateLimitSource>();

/**
 * Sets the RateLimit headers of `source` just before `res` writes its head — however
 * the response is made: llmHandler, a custom handler around `run()`, a refusal, an
 * app's error handler. Headers the app set itself are kept. Calling it again on the
 * same response only changes the source.
 */
export function setRateLimitHeadersOnWrite(res: ServerResponse, source: RateLimitSource): void {
  const hooked = sources.has(res);
  sources.set(res, source);
  if (hooked) return;
  hookWriteHead(hookTarget(res));
}

/**
 * Where `res`'s writeHead is hooked. Express gives each response a hidden class of its own, so a property added to one
 * copies its class (~1 KB a request): the framework's own prototype right above node's, which every response of every
 * app and sub-app inherits, is hooked once instead. A writeHead on the response or on a prototype in between (an
 * on-headers wrapper, an app's patch) would not call that hook: such a response is hooked itself.
 */
function hookTarget(res: ServerResponse): ServerResponse {
  let target = res;
  for (;;) {
    if (hookedWriteHeads.has(target)) return target;
    if (Object.hasOwn(target, 'writeHead')) return res;
    const prototype = Object.getPrototypeOf(target) as ServerResponse | null;
    if (prototype === ServerResponse.prototype) return target;
    if (prototype === null) return res;
    target = prototype;
  }
}

/** Objects whose writeHead is hooked: responses, and the frameworks' response prototypes. */
const hookedWriteHeads = new WeakSet<ServerResponse>();

function hookWriteHead(target: ServerResponse): void {
  if (hookedWriteHeads.has(target)) return;
  hookedWriteHeads.add(target);
  const writeHead = target.writeHead;
  target.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const source = sources.get(this);
    if (source && !this.headersSent) {
      const headers = rateLimitHeaders(source.scopes, source.scopeStates, Date.now());
      for (const name in headers) if (!this.hasHeader(name)) this.setHeader(name, headers[name]!);
      const shadowed = shadowHeaderValue(source.shadowed ?? []);
      if (shadowed !== undefined) this.setHeader(SHADOW_HEADER, shadowed);
      const downgraded = source.degraded?.downgrade;
      if (downgraded) this.setHeader(DOWNGRADE_HEADER, downgraded.to);
    }
    return writeHead.apply(this, args as Parameters<ServerResponse['writeHead']>);
  } as ServerResponse['writeHead'];
}
