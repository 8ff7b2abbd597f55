// The command line: options shared by every command, read with node:util parseArgs (unknown options are mistakes).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
export const COMMON_OPTIONS = {
  redis: { type: 'string' },
  prefix: { type: 'string' },
  timeout: { type: 'string' },
  client: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies OptionSpecs;

export const COMMON_HELP = `Connection (flags, usage, spend):
  --redis URL        Redis to read and write (default: $REDIS_URL)
  --prefix P         key prefix the app's redisStore uses (default: tb:)
  --timeout MS       longest wait for Redis, to connect and per command (default: 3000)
  --client NAME      redis or ioredis (default: whichever is installed, redis first)
  --json             print JSON instead of text
  -h, --help         this help
  --version          the package's version`;

export interface ParsedLine {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Reads `args` against the common options and `options`; a mistake is a UsageError. */
export function readLine(args: string[], options: OptionSpecs = {}): ParsedLine {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedLine['values'], positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A positive whole number given as an option. */
export function positiveOption(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(number) || number <= 0) {
    throw new UsageError(`--${name} must be a positive whole number; got ${JSON.stringify(value)}.`);
  }
  return number;
}
