// The CLI's Redis connection: made with whichever peer client is installed (node-redis or ioredis), connected within a deadline.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { withinDeadline } from '../store/deadline';
import type { RedisClient } from '../store/redis-transport';
import { CliFailure, UsageError, withoutCode } from './errors';

export type ClientName = 'redis' | 'ioredis';
const CLIENTS: ClientName[] = ['redis', 'ioredis'];

/** Loads a package by name; throws (MODULE_NOT_FOUND) when it is not installed. */
export type Load = (name: ClientName) => unknown;

export interface OpenedRedis {
  client: RedisClient;
  /** Which package made it. */
  name: ClientName;
  close(): Promise<void>;
}

interface NodeRedisModule {
  createClient(options: object): RedisClient & { connect(): Promise<unknown>; destroy?(): void; disconnect(): Promise<unknown> };
}
type IoRedisModule = new (
  url: string,
  options: object,
) => RedisClient & { connect(): Promise<unknown>; disconnect(): void; status: string };

/** Beside the CLI's own package first (an app's node_modules), then from the working directory. */
export function defaultLoad(name: ClientName): unknown {
  try {
    return createRequire(__filename)(name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    return createRequire(join(process.cwd(), 'package.json'))(name);
  }
}

/** The first client package that loads (`prefer` alone when given). */
export function findClient(prefer: string | undefined, load: Load): { name: ClientName; module: unknown } {
  if (prefer !== undefined && !CLIENTS.includes(prefer as ClientName)) {
    throw new UsageError(`--client must be redis or ioredis; got ${JSON.stringify(prefer)}.`);
  }
  const names = prefer === undefined ? CLIENTS : [prefer as ClientName];
  for (const name of names) {
    try {
      return { name, module: load(name) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  const wanted = names.map((name) => `"${name}"`).join(' or ');
  throw new CliFailure(`a Redis client is needed to talk to Redis: install ${wanted} (e.g. npm install ${names[0]}).`);
}

/** The URL as it may be printed: without its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Connects to `url` with the first client package found, giving up after `timeoutMs`
 * (no reconnecting: an operator wants an answer, not a wait).
 */
export async function openRedis(
  url: string,
  timeoutMs: number,
  prefer: string | undefined,
  load: Load = defaultLoad,
): Promise<OpenedRedis> {
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--redis must be a URL such as redis://127.0.0.1:6379; got ${JSON.stringify(url)}.`);
  }
  const { name, module } = findClient(prefer, load);
  let client: OpenedRedis['client'];
  let close: () => Promise<void>;
  let connect: () => Promise<unknown>;
  if (name === 'redis') {
    const made = (module as NodeRedisModule).createClient({
      url,
      socket: { connectTimeout: timeoutMs, reconnectStrategy: false },
    });
    client = made;
    connect = () => made.connect();
    // node-redis 5/6 `destroy()`; node-redis 4 only has `disconnect()`.
    close = async () => (made.destroy ? made.destroy() : void (await made.disconnect().catch(() => {})));
  } else {
    const IoRedis = ((module as { default?: IoRedisModule }).default ?? module) as IoRedisModule;
    const made = new IoRedis(url, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    client = made;
    connect = () => made.connect();
    // A connection that failed has ended already; disconnecting it again would leave ioredis's
    // disconnectTimeout (2 s) waiting for a close that has happened, and the process alive.
    close = async () => {
      if (made.status !== 'end') made.disconnect();
    };
  }
  // The store and the flag channel listen too; an error with nobody listening would crash the CLI.
  (client as unknown as { on(event: 'error', listener: () => void): void }).on('error', () => {});
  try {
    await withinDeadline(timeoutMs, connect());
  } catch (err) {
    await close().catch(() => {});
    throw new CliFailure(
      `Cannot reach Redis at ${redactUrl(url)} within ${timeoutMs} ms (${withoutCode((err as Error).message)}).`,
    );
  }
  return { client, name, close };
}
