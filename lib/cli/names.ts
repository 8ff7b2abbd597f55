// Names given on the command line, held to the rules the app's own options follow.
import { checkName } from '../options/check';
import { validateTimeZone } from '../store/periods';
import { UsageError, withoutCode } from './errors';

/** A flag, feature, meter or quota name: 1–64 letters, digits, `_`, `.`, `-`. */
export function cliName(value: string | undefined, what: string): string {
  if (value === undefined) throw new UsageError(`${what} is missing.`);
  try {
    return checkName(value, what);
  } catch (err) {
    throw new UsageError(withoutCode((err as Error).message));
  }
}

/** `--time-zone`, an IANA zone; UTC when not given. */
export function cliTimeZone(value: string | boolean | undefined): string {
  if (value === undefined) return 'UTC';
  if (typeof value !== 'string' || !validateTimeZone(value))
    throw new UsageError(`--time-zone must be an IANA time zone such as Europe/Paris; got ${JSON.stringify(value)}.`);
  return value;
}

/** Fails on words left over after a command's arguments. */
export function noMore(rest: string[], usage: string): void {
  if (rest.length > 0) throw new UsageError(`Unexpected ${JSON.stringify(rest[0])}; usage: ${usage}.`);
}
