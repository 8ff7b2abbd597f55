// What a CLI command is: its help, its own options, a check of its line before connecting, and its work against Redis.
import type { RedisStore } from './store';
import type { OptionSpecs, ParsedLine } from './args';
import type { OpenedRedis } from './redis-client';

/** What a command prints: text for people, the same as JSON for scripts. */
export interface Output {
  text: string;
  json: unknown;
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
