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

/** The option names of an options type, written once: TypeScript refuses a list that misses one or adds one. */
export function optionNames<T>(names: { readonly [K in keyof Required<T>]: true }): ReadonlySet<string> {
  return new Set(Object.keys(names));
}

/**
 * A misspelt option is not ignored: the limit, cap or policy it meant to set would silently not
 * hold (TypeScript catches it, plain JavaScript does not). `path` names the options object
 * (`features.chat`, `costMeter`; empty for createTokenBudget's own). What is not an object is
 * left to the option's reader, which says what it must be.
 */
export function checkOptionNames(options: unknown, known: ReadonlySet<string>, path: string): void {
  if (typeof options !== 'object' || options === null) return;
  for (const name of Object.keys(options)) {
    if (known.has(name)) continue;
    const at = path === '' ? name : `${path}.${name}`;
    const near = nearestName(name, known);
    fail(
      'TB_UNKNOWN_OPTION',
      near === undefined
        ? `${at} is not an option; expected one of ${[...known].join(', ')}.`
        : `${at} is not an option; did you mean ${near}?`,
    );
  }
}

/** The known name `name` is most likely a misspelling of: the same but for case, or at most two edits away. */
function nearestName(name: string, known: ReadonlySet<string>): string | undefined {
  let nearest: string | undefined;
  let nearestDistance = 3;
  for (const candidate of known) {
    if (candidate.toLowerCase() === name.toLowerCase()) return candidate;
    const distance = editDistance(name, candidate);
    if (distance < nearestDistance) [nearest, nearestDistance] = [candidate, distance];
  }
  return nearest;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
