// The store the CLI reads: redisStore over the CLI's client, its deadline and prefix; unreachable Redis becomes a CliFailure.
import { redisStore } from '../store/redis';
import { StoreUnavailableError } from '../store/unavailable';
import type { RedisClient } from '../store/redis-transport';
import { CliFailure, withoutCode } from './errors';

export type RedisStore = ReturnType<typeof redisStore>;

export function cliStore(client: RedisClient, prefix: string, timeoutMs: number): RedisStore {
  // Failures are thrown to the command, which reports them once; nothing to log besides.
  return redisStore(client, { prefix, timeoutMs, onError: () => {} });
}

/** Runs a store call; an unreachable Redis is a CliFailure naming the deadline. */
export async function fromStore<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw new CliFailure(`${withoutCode(err.message)}.`);
    throw err;
  }
}
