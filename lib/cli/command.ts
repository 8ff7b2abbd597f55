// What a CLI command is: its help, its own options, and its work — against Redis, or on local files.
import type { RedisStore } from './store';
import type { OptionSpecs, ParsedLine } from './args';
import type { OpenedRedis } from './redis-client';

/** What a command prints: text for people, the same as JSON for scripts. */
export interface Output {
  text: string;
  json: unknown;
  /** Exit status when the work was done but its finding fails the caller (plan over a limit). @default 0 */
  exitCode?: number;
  /** Said on stderr with that status. */
  failure?: string;
}

export interface Session extends ParsedLine {
  redis: OpenedRedis;
  /** The store over the connection, as the app's `redisStore(client, { prefix })` sees it. */
  store: RedisStore;
  prefix: string;
  timeoutMs: number;
}

export interface Command {
  help: string;
  options?: OptionSpecs;
  /** Throws a UsageError for a line that is wrong, so a mistake never waits for Redis. */
  check(line: ParsedLine): void;
  run(session: Session): Promise<Output>;
}

/** A command that reads local files, not Redis (plan). */
export interface LocalCommand {
  help: string;
  options?: OptionSpecs;
  /** Throws a UsageError for a wrong line, a CliFailure when a file cannot be used. */
  runLocal(line: ParsedLine): Output;
}
