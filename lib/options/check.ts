// Option checks shared by every layer that reads options: each returns the checked value or throws TokenBudgetConfigError.
import type { ClientGonePolicy, MissingUsagePolicy, ModelApi } from '../call';
import { TokenBudgetConfigError } from '../config-error';
import type { UnavailablePolicy } from '../store/types';
import type { ErrorOptions, OnExceed, StreamPolicy } from '../types';

/** Feature, quota and key names: they become Redis keys and log fields. */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const POLICIES: UnavailablePolicy[] = ['fail-closed', 'fail-open', 'fallback'];

export function fail(code: TokenBudgetConfigError['code'], message: string): never {
  throw new TokenBudgetConfigError(code, message);
}

export function positiveInteger(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    fail('TB_INVALID_LIMIT', `${path} must be a positive integer; got ${JSON.stringify(value)}.`);
  }
  return value as number;
}

export function checkName(value: unknown, path: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    fail(
      'TB_INVALID_OPTION',
      `${path} must be 1–64 characters of letters, digits, '_', '.' or '-'; got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

export function checkPolicy(value: unknown, path: string, fallback: UnavailablePolicy): UnavailablePolicy {
  if (value === undefined) return fallback;
  if (!POLICIES.includes(value as UnavailablePolicy)) {
    fail('TB_INVALID_OPTION', `${path} must be one of ${POLICIES.join(', ')}; got ${JSON.stringify(value)}.`);
  }
  return value as UnavailablePolicy;
}

export function checkOnExceed(value: unknown, path: string): OnExceed | undefined {
  if (value === undefined || value === 'reject' || value === 'truncate' || value === 'summarize' || typeof value === 'function') {
    return value as OnExceed | undefined;
  }
  return fail(
    'TB_INVALID_OPTION',
    `${path} must be 'reject', 'truncate', 'summarize' or a function; got ${JSON.stringify(value)}.`,
  );
}

export function checkClientGone(value: unknown, path: string): ClientGonePolicy | undefined {
  if (value === undefined || value === 'finish' || value === 'abort') return value;
  return fail('TB_INVALID_OPTION', `${path} must be 'finish' or 'abort'; got ${JSON.stringify(value)}.`);
}

export function checkMissingUsage(value: unknown): MissingUsagePolicy {
  if (value === undefined) return 'charge';
  if (value === 'charge' || value === 'count-reply') return value;
  return fail('TB_INVALID_OPTION', `onMissingUsage must be 'charge' or 'count-reply'; got ${JSON.stringify(value)}.`);
}

export function checkStreamPolicy(value: unknown, path: string): StreamPolicy {
  if (value === undefined || value === 'allow') return 'allow';
  if (value === 'forbid') return value;
  return fail('TB_INVALID_OPTION', `${path} must be 'allow' or 'forbid'; got ${JSON.stringify(value)}.`);
}

export function checkApi(value: unknown, path: string): ModelApi | undefined {
  if (value === undefined || value === 'chat' || value === 'responses') return value;
  return fail('TB_INVALID_OPTION', `${path} must be 'chat' or 'responses'; got ${JSON.stringify(value)}.`);
}

export function checkFunction<T>(value: T | undefined, path: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') fail('TB_INVALID_OPTION', `${path} must be a function.`);
  return value;
}

export function checkErrorOptions(options: ErrorOptions, path: string, inherited: ErrorOptions = {}): ErrorOptions {
  const errors = options.errors ?? inherited.errors;
  if (errors !== undefined && errors !== 'respond' && errors !== 'next') {
    fail('TB_INVALID_OPTION', `${path}.errors must be 'respond' or 'next'; got ${JSON.stringify(errors)}.`);
  }
  return { errors, onReject: checkFunction(options.onReject, `${path}.onReject`) ?? inherited.onReject };
}
