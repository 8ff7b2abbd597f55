// quota: declares a principal's token quota (user, team, organisation, API key, …) for the current calendar period.
import type { BudgetConfig } from '../config';
import { checkFunction, checkName, checkOptionNames, checkPolicy, fail, optionNames, positiveInteger } from '../options/check';
import type { AnswerOptions } from '../http/errors';
import { BudgetRefusal, internalError } from '../refusal';
import { checkMode, refusalEvent } from '../shadow';
import { quotaScopeKey } from '../store/keys';
import { periodAt, validateTimeZone } from '../store/periods';
import type { FixedWindow, ScopeRequest, UnavailablePolicy } from '../store/types';
import type { BudgetMode, PrincipalId, QuotaLimitOptions, QuotaOptions, QuotaPeriod } from '../types';
import { readErrorOptions, requireContext } from './respond';
import type { Step } from './step';

const PERIODS: QuotaPeriod[] = ['hour', 'day', 'week', 'month'];
/** Names that `error.scope` and the RateLimit headers already give to other budgets. */
const RESERVED_NAMES = ['feature', 'global'];

/** A quota's options, read once. */
export interface QuotaConfig {
  name: string;
  /** How the app wrote it, for messages: `userQuota` or `quota("team")`. */
  path: string;
  id: (request: unknown) => PrincipalId | undefined | null;
  tier: (request: unknown) => string | undefined | null;
  limits: Map<string, number>;
  defaultTier: string;
  anonymousTier: string | undefined;
  /** Suffix of every key of this quota: the period, and the zone when it is not UTC. */
  periodName: string;
  window: FixedWindow;
  /** What one name must mean wherever it is mounted: limits, default and anonymous tiers, period and zone. */
  definition: string;
  onUnavailable: UnavailablePolicy;
  errorOptions: AnswerOptions;
  /** This mount's mode (not part of `definition`: one quota may be enforced on one route and watched on another). */
  mode: BudgetMode;
  /** The scopes of the principals seen last, by id (see `quotaScope`). */
  scopes: Map<string | undefined, ScopeRequest>;
}

/** Principals whose scopes a quota keeps, the oldest forgotten first. */
const REMEMBERED_PRINCIPALS = 4096;

function readLimits(limits: QuotaLimitOptions['limits'], path: string): Map<string, number> {
  if (typeof limits === 'number') return new Map([['default', positiveInteger(limits, `${path}.limits`)]]);
  if (typeof limits !== 'object' || limits === null || Object.keys(limits).length === 0) {
    fail('TB_INVALID_OPTION', `${path}.limits must be a number or an object of tier → tokens, e.g. { free: 10000 }.`);
  }
  return new Map(Object.entries(limits).map(([tier, n]) => [tier, positiveInteger(n, `${path}.limits.${tier}`)]));
}

/** Reads the options shared by every quota; `id` gives the principal of a request. */
export function readQuotaLimits(
  config: BudgetConfig,
  name: string,
  id: QuotaConfig['id'],
  options: QuotaLimitOptions,
  path: string,
): QuotaConfig {
  const limits = readLimits(options.limits, path);
  const smallest = [...limits.entries()].sort((a, b) => a[1] - b[1])[0]![0];
  const defaultTier = options.defaultTier ?? smallest;
  if (!limits.has(defaultTier)) fail('TB_INVALID_OPTION', `${path}.defaultTier "${defaultTier}" is not a key of limits.`);
  const anonymous = options.anonymous ?? 'reject';
  if (anonymous !== 'reject' && !limits.has(anonymous?.tier)) {
    fail('TB_INVALID_OPTION', `${path}.anonymous must be 'reject' or { tier } with a tier of limits.`);
  }
  const anonymousTier = anonymous === 'reject' ? undefined : checkName(anonymous.tier, `${path}.anonymous.tier`);
  const period = options.period ?? 'day';
  if (!PERIODS.includes(period)) fail('TB_INVALID_OPTION', `${path}.period must be one of ${PERIODS.join(', ')}.`);
  const timeZone = options.timeZone ?? 'UTC';
  if (!validateTimeZone(timeZone)) fail('TB_INVALID_OPTION', `${path}.timeZone "${timeZone}" is not an IANA time zone.`);
  const periodName = timeZone === 'UTC' ? period : `${period}@${timeZone}`;
  const sortedLimits = [...limits].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    name,
    path,
    id,
    tier: checkFunction(options.tier, `${path}.tier`) ?? (() => undefined),
    limits,
    defaultTier,
    anonymousTier,
    periodName,
    window: { kind: 'fixed', periodAt: (nowMs) => periodAt(nowMs, period, timeZone) },
    definition: JSON.stringify([sortedLimits, defaultTier, anonymousTier ?? null, periodName]),
    onUnavailable: checkPolicy(options.onStoreUnavailable, `${path}.onStoreUnavailable`, config.onStoreUnavailable),
    errorOptions: readErrorOptions(config, options, path),
    mode: checkMode(options.mode, `${path}.mode`, config.mode),
    scopes: new Map(),
  };
}

/** Refuses a quota name that another budget uses in errors and headers. */
export function checkUnreservedName(name: string, path: string): void {
  if (RESERVED_NAMES.includes(name)) {
    fail('TB_INVALID_OPTION', `${path}: "${name}" names another budget in errors and headers; choose another quota name.`);
  }
}

/** The options every quota takes, besides how it names its principal (`key`, or userQuota's `user`). */
export const QUOTA_LIMIT_OPTIONS = {
  tier: true,
  limits: true,
  defaultTier: true,
  anonymous: true,
  period: true,
  timeZone: true,
  onStoreUnavailable: true,
  mode: true,
  errors: true,
  onReject: true,
} as const satisfies { readonly [K in keyof Required<QuotaLimitOptions>]: true };

const QUOTA_OPTION_NAMES = optionNames<QuotaOptions>({ name: true, key: true, ...QUOTA_LIMIT_OPTIONS });

/** Reads `budget.quota(options)`. */
export function readQuota(config: BudgetConfig, options: QuotaOptions): QuotaConfig {
  const name = checkName(options?.name, 'quota.name');
  const path = `quota("${name}")`;
  checkUnreservedName(name, path);
  if (typeof options.key !== 'function') {
    fail('TB_INVALID_OPTION', `${path} needs { key: req => id }: the id must come from the app (e.g. req.user), not the client.`);
  }
  checkOptionNames(options, QUOTA_OPTION_NAMES, path);
  return readQuotaLimits(config, name, options.key, options, path);
}

/**
 * Adds `quota` to the budget's quotas. One name is one budget: mounting it again with
 * the same limits, tiers, period and zone is how several routes share it; anything
 * else would count one counter against two limits.
 */
export function registerQuota(quotas: Map<string, QuotaConfig>, quota: QuotaConfig): void {
  const known = quotas.get(quota.name);
  if (!known) {
    quotas.set(quota.name, quota);
    return;
  }
  if (known.definition !== quota.definition) {
    fail(
      'TB_DUPLICATE_QUOTA',
      `${quota.path} is already defined with other limits, defaultTier, anonymous, period or timeZone; ` +
        'mount one name with one definition, or give the other budget another name.',
    );
  }
}

/** The quota named `name`, or a configuration error naming what to create first. */
export function findQuota(quotas: Map<string, QuotaConfig>, name: string, what: string): QuotaConfig {
  const quota = quotas.get(name);
  if (!quota) {
    const create = name === 'user' ? 'budget.userQuota(...)' : `budget.quota({ name: '${name}', ... })`;
    fail('TB_INVALID_OPTION', `${what} needs ${create} to be created first.`);
  }
  return quota;
}

/** A principal id that names a counter: a non-empty string or a finite number (`1` and `'1'` are one principal). */
function isUsableId(id: unknown): id is PrincipalId {
  return (typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id));
}

/**
 * The scope of one principal (`undefined`: the shared anonymous budget) at a tier.
 * A principal's scope only changes with its tier, so the last ones are kept: a
 * request of a known principal builds no key, and the stores find its key hashed already.
 */
export function quotaScope(quota: QuotaConfig, id: string | undefined, tier: string | undefined | null): ScopeRequest {
  const limit = quota.limits.get(tier ?? quota.defaultTier) ?? quota.limits.get(quota.defaultTier)!;
  const known = quota.scopes.get(id);
  if (known?.limit === limit) return known;
  const scope: ScopeRequest = {
    kind: quota.name === 'user' ? 'user' : 'quota',
    name: quota.name,
    key: quotaScopeKey(quota.name, id, quota.periodName),
    limit,
    onUnavailable: quota.onUnavailable,
    window: quota.window,
  };
  quota.scopes.delete(id);
  if (quota.scopes.size >= REMEMBERED_PRINCIPALS) quota.scopes.delete(quota.scopes.keys().next().value);
  quota.scopes.set(id, scope);
  return scope;
}

function missingPrincipal(quota: QuotaConfig): BudgetRefusal {
  if (quota.name === 'user')
    return new BudgetRefusal('user_required', 'This feature needs a signed-in user.', { scopeName: 'user' });
  return new BudgetRefusal('principal_required', `This feature is budgeted per ${quota.name}, and this request has none.`, {
    scopeName: quota.name,
  });
}

/** The scope of the principal making `request`; a refusal when there is none and anonymous use is off. */
export function requestQuotaScope(quota: QuotaConfig, request: unknown): ScopeRequest {
  const id = quota.id(request);
  if (isUsableId(id)) return quotaScope(quota, String(id), quota.tier(request));
  if (id !== undefined && id !== null && id !== '') {
    const got = typeof id === 'number' ? String(id) : typeof id;
    throw internalError(
      'TB_INVALID_PRINCIPAL',
      `${quota.path}: the id function returned ${got}; return a string, a finite number, or undefined for none.`,
    );
  }
  if (quota.anonymousTier === undefined) throw missingPrincipal(quota);
  return quotaScope(quota, undefined, quota.anonymousTier);
}

/** The scope `budget.usage` reads for principal `id` at `tier` (default: the quota's defaultTier). */
export function usageScope(quota: QuotaConfig, id: unknown, tier?: string): ScopeRequest {
  if (!isUsableId(id))
    throw new TypeError(`usage of quota "${quota.name}": the id must be a non-empty string or a finite number.`);
  return quotaScope(quota, String(id), tier);
}

/** Builds the middleware of `budget.quota(options)` and `budget.userQuota(options)`. */
export function createQuota(quota: QuotaConfig): Step {
  return {
    run: (exchange) => {
      const context = requireContext(exchange, quota.path);
      try {
        context.declare(requestQuotaScope(quota, exchange.request), quota.mode);
      } catch (err) {
        // In shadow mode a request without a principal is served, recorded, and counted in no principal's quota.
        if (quota.mode !== 'shadow' || !(err instanceof BudgetRefusal) || err.type === 'internal_error') throw err;
        context.recordShadow(refusalEvent(context.feature, err));
      }
    },
    answer: quota.errorOptions,
    ends: false,
  };
}
