// userQuota: declares the user's token quota for the current calendar period, by tier.
import type { Request, RequestHandler } from 'express';
import {
  checkErrorOptions,
  checkFunction,
  checkName,
  checkPolicy,
  fail,
  positiveInteger,
  type BudgetConfig,
} from '../config';
import { BudgetRefusal } from '../refusal';
import { userScopeKey } from '../store/keys';
import { periodAt, validateTimeZone } from '../store/periods';
import type { FixedWindow, ScopeRequest, UnavailablePolicy } from '../store/types';
import type { ErrorOptions, QuotaPeriod, UserQuotaOptions } from '../types';
import { answerRefusal, requireContext } from './respond';

const PERIODS: QuotaPeriod[] = ['hour', 'day', 'week', 'month'];

/** A userQuota's options, read once. */
export interface UserQuotaConfig {
  user: UserQuotaOptions['user'];
  tier: (req: Request) => string | undefined | null;
  limits: Map<string, number>;
  defaultTier: string;
  anonymousTier: string | undefined;
  /** Suffix of every key of this quota: the period, and the zone when it is not UTC. */
  periodName: string;
  window: FixedWindow;
  onUnavailable: UnavailablePolicy;
  errorOptions: ErrorOptions;
}

function readLimits(limits: UserQuotaOptions['limits']): Map<string, number> {
  if (typeof limits === 'number') return new Map([['default', positiveInteger(limits, 'userQuota.limits')]]);
  if (typeof limits !== 'object' || limits === null || Object.keys(limits).length === 0) {
    fail('TB_INVALID_OPTION', 'userQuota.limits must be a number or an object of tier → tokens, e.g. { free: 10000 }.');
  }
  return new Map(Object.entries(limits).map(([tier, n]) => [tier, positiveInteger(n, `userQuota.limits.${tier}`)]));
}

export function readUserQuota(config: BudgetConfig, options: UserQuotaOptions): UserQuotaConfig {
  if (typeof options?.user !== 'function') {
    fail('TB_INVALID_OPTION', 'userQuota needs { user: req => id }: the id must come from the app (e.g. req.user), not the client.');
  }
  const limits = readLimits(options.limits);
  const smallest = [...limits.entries()].sort((a, b) => a[1] - b[1])[0]![0];
  const defaultTier = options.defaultTier ?? smallest;
  if (!limits.has(defaultTier)) fail('TB_INVALID_OPTION', `userQuota.defaultTier "${defaultTier}" is not a key of limits.`);
  const anonymous = options.anonymous ?? 'reject';
  if (anonymous !== 'reject' && !limits.has(anonymous?.tier)) {
    fail('TB_INVALID_OPTION', "userQuota.anonymous must be 'reject' or { tier } with a tier of limits.");
  }
  const period = options.period ?? 'day';
  if (!PERIODS.includes(period)) fail('TB_INVALID_OPTION', `userQuota.period must be one of ${PERIODS.join(', ')}.`);
  const timeZone = options.timeZone ?? 'UTC';
  if (!validateTimeZone(timeZone)) fail('TB_INVALID_OPTION', `userQuota.timeZone "${timeZone}" is not an IANA time zone.`);
  return {
    user: options.user,
    tier: checkFunction(options.tier, 'userQuota.tier') ?? (() => undefined),
    limits,
    defaultTier,
    anonymousTier: anonymous === 'reject' ? undefined : checkName(anonymous.tier, 'userQuota.anonymous.tier'),
    periodName: timeZone === 'UTC' ? period : `${period}@${timeZone}`,
    window: { kind: 'fixed', periodAt: (nowMs) => periodAt(nowMs, period, timeZone) },
    onUnavailable: checkPolicy(options.onStoreUnavailable, 'userQuota.onStoreUnavailable', config.onStoreUnavailable),
    errorOptions: checkErrorOptions(options, 'userQuota', config.errorOptions),
  };
}

/** The scope of one user (`undefined` id: the shared anonymous budget) at a tier. */
export function userScope(quota: UserQuotaConfig, userId: string | undefined, tier: string | undefined | null): ScopeRequest {
  const limit = quota.limits.get(tier ?? quota.defaultTier) ?? quota.limits.get(quota.defaultTier)!;
  return {
    kind: 'user',
    // 'a:' cannot collide with 'u:': no user id can land in the anonymous budget.
    key: userId === undefined ? `a:{anonymous}:${quota.periodName}` : userScopeKey(userId, quota.periodName),
    limit,
    onUnavailable: quota.onUnavailable,
    window: quota.window,
  };
}

/** The scope of the user making `req`, or a 401 refusal when there is none and anonymous use is off. */
export function requestUserScope(quota: UserQuotaConfig, req: Request): ScopeRequest {
  const id = quota.user(req);
  if (id === undefined || id === null || id === '') {
    if (quota.anonymousTier === undefined) {
      throw new BudgetRefusal('user_required', 'This feature needs a signed-in user.');
    }
    return userScope(quota, undefined, quota.anonymousTier);
  }
  return userScope(quota, String(id), quota.tier(req));
}

/** Builds `budget.userQuota(options)`. */
export function createUserQuota(quota: UserQuotaConfig): RequestHandler {
  return (req, res, next) => {
    try {
      requireContext(req, 'userQuota').declare(requestUserScope(quota, req));
    } catch (err) {
      return answerRefusal(err, req, res, next, quota.errorOptions);
    }
    next();
  };
}
