// How redisStore talks to node-redis: a client or a cluster, scripts by SHA, errors sorted, calls bounded in time.
import { ErrorReply } from 'redis';
import type { LuaScript } from './scripts';
import { StoreUnavailableError } from './unavailable';

interface ErrorSource {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** What redisStore uses of a node-redis 6 client made by `createClient`. */
export interface NodeRedisClient extends ErrorSource {
  sendCommand(args: string[]): Promise<unknown>;
}

/** What redisStore uses of a node-redis 6 cluster made by `createCluster`. */
export interface NodeRedisCluster extends ErrorSource {
  readonly masters: readonly unknown[];
  sendCommand(firstKey: string, isReadonly: boolean, args: string[]): Promise<unknown>;
}

export type NodeRedis = NodeRedisClient | NodeRedisCluster;

export interface ScriptRunner {
  /** Whether keys with different hash tags must go to separate scripts. */
  readonly clustered: boolean;
  /** Runs a script whose keys share one slot. */
  run(script: LuaScript, keys: string[], args: string[]): Promise<number[]>;
}

export function scriptRunner(redis: NodeRedis): ScriptRunner {
  const send: (firstKey: string, args: string[]) => Promise<unknown> =
    'masters' in redis
      ? (firstKey, args) => redis.sendCommand(firstKey, false, args)
      : (_firstKey, args) => redis.sendCommand(args);
  return {
    clustered: 'masters' in redis,
    async run(script, keys, args) {
      const tail = [String(keys.length), ...keys, ...args];
      try {
        try {
          return integers(await send(keys[0]!, ['EVALSHA', script.sha1, ...tail]));
        } catch (err) {
          if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
          // EVAL caches the script on that node, so the next EVALSHA finds it. Sent even
          // when the caller has given up: a late settle still counts, a late reserve takes nothing.
          return integers(await send(keys[0]!, ['EVAL', script.source, ...tail]));
        }
      } catch (err) {
        throw asUnavailable(err);
      }
    },
  };
}

/** Replies that say the node cannot serve now, as opposed to a bug or a key clash (which stay loud). */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|MASTERDOWN|TRYAGAIN|BUSY|READONLY|NOREPLICAS|MOVED|ASK)\b/;

function asUnavailable(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  if (err instanceof ErrorReply && !TRANSIENT_REPLY.test(err.message)) return err;
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`Redis could not answer: ${message}`, { cause: err });
}

function integers(reply: unknown): number[] {
  if (!Array.isArray(reply)) return [Number(reply)];
  return reply.map(Number);
}

/** The part of a key Redis Cluster hashes: the first non-empty `{…}`, else the whole key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

const errorHandlers = new WeakMap<ErrorSource, Set<(err: Error) => void>>();

/**
 * Calls `handler` on the connection's `error` events. One listener per connection
 * is attached and kept for good: an EventEmitter without one crashes the process.
 * Returns the function that stops calling `handler`.
 */
export function onConnectionError(redis: NodeRedis, handler: (err: Error) => void): () => void {
  let handlers = errorHandlers.get(redis);
  if (!handlers) {
    const registered = new Set<(err: Error) => void>();
    redis.on('error', (err) => registered.forEach((notify) => notify(err)));
    errorHandlers.set(redis, registered);
    handlers = registered;
  }
  handlers.add(handler);
  return () => handlers.delete(handler);
}
