// How token-budget talks to the app's Redis client (node-redis 4/5/6 or ioredis 5/6, single or cluster): commands, scripts, errors, pub/sub.
import { TokenBudgetConfigError } from '../config-error';
import type { ClientAdapter, ErrorEmitter } from './clients/adapter';
import { type IoRedisClient, ioRedisAdapter, isIoRedis } from './clients/ioredis';
import {
  type NodeRedisClient,
  type NodeRedisCluster,
  isNodeRedisClient,
  isNodeRedisCluster,
  nodeRedisClientAdapter,
  nodeRedisClusterAdapter,
} from './clients/node-redis';
import type { LuaScript } from './scripts';
import { StoreUnavailableError } from './unavailable';

export type { IoRedisClient } from './clients/ioredis';
export type { NodeRedisClient, NodeRedisCluster } from './clients/node-redis';

/**
 * A Redis client the app already has, duck-typed: node-redis 4/5/6 `createClient()` or
 * `createCluster()`, ioredis 5/6 `new Redis()` or `new Redis.Cluster()`. token-budget never
 * connects or closes it.
 */
export type RedisClient = NodeRedisClient | NodeRedisCluster | IoRedisClient;

/** Any supported client, behind one small interface. */
export interface RedisConnection {
  /** Whether keys with different hash tags may live on different nodes. */
  readonly clustered: boolean;
  /**
   * Sends one command and resolves with its reply; a map reply (HGETALL; node-redis 6 and
   * RESP3 give objects) comes as a flat `[field, value, …]` array whatever the client. On a cluster it goes to
   * the node owning `firstKey` (ioredis finds the key itself); without a key, to any node.
   * Rejects with StoreUnavailableError when Redis cannot answer now (connection lost,
   * CLUSTERDOWN, LOADING, …); other error replies (a script bug, WRONGTYPE) reject as they are.
   */
  send(args: string[], firstKey?: string): Promise<unknown>;
  /**
   * Calls `handler` on the client's `error` events (and those of connections opened for
   * `subscribe`). Returns the function that stops calling it.
   */
  onError(handler: (err: Error) => void): () => void;
  /**
   * Subscribes to `channel` without tying up the app's connection: a single node-redis or
   * any ioredis client subscribes on a duplicate connection, a node-redis cluster on its own
   * pub/sub connection. The client resubscribes by itself after a reconnect; messages
   * published while disconnected are lost. Resolves, once subscribed, with the function
   * that unsubscribes and closes what was opened.
   */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
}

const connections = new WeakMap<object, RedisConnection>();

/** The connection over `client`, one per client (its `error` listener is attached once). */
export function redisConnection(client: RedisClient): RedisConnection {
  let connection = connections.get(client);
  if (!connection) {
    connection = connect(client, adapterFor(client));
    connections.set(client, connection);
  }
  return connection;
}

function adapterFor(client: RedisClient): ClientAdapter {
  // ioredis first: its clients have a `sendCommand` too, of another shape.
  if (typeof client === 'object' && client !== null) {
    if (isIoRedis(client)) return ioRedisAdapter(client);
    if (isNodeRedisCluster(client)) return nodeRedisClusterAdapter(client);
    if (isNodeRedisClient(client)) return nodeRedisClientAdapter(client);
  }
  throw new TokenBudgetConfigError(
    'TB_INVALID_OPTION',
    'The Redis client must be a node-redis client or cluster (createClient, createCluster) or an ioredis client or cluster (new Redis(), new Redis.Cluster()).',
  );
}

function connect(client: ErrorEmitter, adapter: ClientAdapter): RedisConnection {
  const handlers = new Set<(err: Error) => void>();
  const notify = (err: Error) => handlers.forEach((handler) => handler(err));
  let listening = false;
  return {
    clustered: adapter.clustered,
    async send(args, firstKey) {
      try {
        return flatMap(await adapter.send(args, firstKey));
      } catch (err) {
        throw asUnavailable(err);
      }
    },
    onError(handler) {
      // One listener per client, kept for good: an EventEmitter without one crashes the process.
      if (!listening) client.on('error', notify);
      listening = true;
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async subscribe(channel, onMessage) {
      // A client may still deliver what it had read when it was told to stop: drop it.
      let subscribed = true;
      try {
        const unsubscribe = await adapter.subscribe(channel, (message) => subscribed && onMessage(message), notify);
        return async () => {
          subscribed = false;
          await unsubscribe();
        };
      } catch (err) {
        throw asUnavailable(err);
      }
    },
  };
}

export interface ScriptRunner {
  /** Whether keys with different hash tags must go to separate scripts. */
  readonly clustered: boolean;
  /** Runs a script whose keys share one slot. */
  run(script: LuaScript, keys: string[], args: string[]): Promise<number[]>;
}

/** NOSCRIPT by its message: `instanceof` would only know the error class of one copy of one client. */
const NO_SCRIPT = /^NOSCRIPT(?:\s|$)/;

export function scriptRunner(redis: RedisClient): ScriptRunner {
  const connection = redisConnection(redis);
  return {
    clustered: connection.clustered,
    async run(script, keys, args) {
      const tail = [String(keys.length), ...keys, ...args];
      try {
        return integers(await connection.send(['EVALSHA', script.sha1, ...tail], keys[0]));
      } catch (err) {
        if (!NO_SCRIPT.test(messageOf(err))) throw err;
        // EVAL caches the script on that node, so the next EVALSHA finds it. Sent even
        // when the caller has given up: a late settle still counts, a late reserve takes nothing.
        return integers(await connection.send(['EVAL', script.source, ...tail], keys[0]));
      }
    },
  };
}

/**
 * Calls `handler` on the connection's `error` events. One listener per connection
 * is attached and kept for good: an EventEmitter without one crashes the process.
 * Returns the function that stops calling `handler`.
 */
export function onConnectionError(redis: RedisClient, handler: (err: Error) => void): () => void {
  return redisConnection(redis).onError(handler);
}

/** Replies that say the node cannot serve now, as opposed to a bug or a key clash (which stay loud). */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|MASTERDOWN|TRYAGAIN|BUSY|READONLY|NOREPLICAS|MOVED|ASK)\b/;

function asUnavailable(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  if (isErrorReply(err) && !TRANSIENT_REPLY.test(messageOf(err))) return err;
  if (err instanceof TypeError || err instanceof RangeError) return err;
  return new StoreUnavailableError(`Redis could not answer: ${messageOf(err)}`, { cause: err });
}

/** An error's message, read without `instanceof` (a client's errors may come from another realm). */
function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message === 'string') return message;
  try {
    return String(err);
  } catch {
    // An object without a prototype has no toString: still an outage to report, not a TypeError of ours.
    return Object.prototype.toString.call(err);
  }
}

/**
 * An error the server replied, as opposed to a lost or refused connection: node-redis's
 * `ErrorReply` family (any copy of any version), ioredis's `ReplyError`.
 */
function isErrorReply(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if ((err as { name?: unknown }).name === 'ReplyError') return true;
  for (
    let proto: unknown = Object.getPrototypeOf(err);
    proto && proto !== Error.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === 'ErrorReply') return true;
  }
  return false;
}

/** A map reply (a `Map`, or a plain object) as the flat array RESP2 gives; anything else as it is. */
function flatMap(reply: unknown): unknown {
  if (reply instanceof Map) return [...reply].flat();
  if (typeof reply === 'object' && reply !== null && !Array.isArray(reply) && !Buffer.isBuffer(reply)) {
    const proto: unknown = Object.getPrototypeOf(reply);
    if (proto === null || proto === Object.prototype) return Object.entries(reply).flat();
  }
  return reply;
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
