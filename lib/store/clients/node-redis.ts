// node-redis 4, 5 and 6, single client (`createClient`) or cluster (`createCluster`), seen through what they share.
import type { ClientAdapter, ErrorEmitter, Unsubscribe } from './adapter';

/** What token-budget uses of a node-redis 4/5/6 client made by `createClient`. */
export interface NodeRedisClient extends ErrorEmitter {
  sendCommand(args: string[]): Promise<unknown>;
}

/** What token-budget uses of a node-redis 4/5/6 cluster made by `createCluster`. */
export interface NodeRedisCluster extends ErrorEmitter {
  readonly masters: readonly unknown[];
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
}

type MessageListener = (message: string, channel: string) => void;

/** Pub/sub methods every node-redis 4/5/6 client and cluster has; not in the public types to keep them loose. */
interface PubSub {
  subscribe(channel: string, listener: MessageListener): Promise<unknown>;
  unsubscribe(channel: string, listener: MessageListener): Promise<unknown>;
}

/** A dedicated connection for SUBSCRIBE: a single node-redis client refuses other commands while subscribed. */
interface Duplicable {
  duplicate(): NodeRedisClient & PubSub & { connect(): Promise<unknown>; destroy?(): void; disconnect?(): Promise<unknown> };
}

export function isNodeRedisCluster(client: object): client is NodeRedisCluster {
  return 'masters' in client && typeof (client as Partial<NodeRedisCluster>).sendCommand === 'function';
}

export function isNodeRedisClient(client: object): client is NodeRedisClient {
  return typeof (client as Partial<NodeRedisClient>).sendCommand === 'function';
}

export function nodeRedisClusterAdapter(cluster: NodeRedisCluster): ClientAdapter {
  const pubSub = cluster as unknown as PubSub;
  return {
    clustered: true,
    send: (args, firstKey) => cluster.sendCommand(firstKey, false, args),
    // The cluster keeps its own connection for pub/sub; its errors reach the cluster's `error` event.
    async subscribe(channel, onMessage) {
      const listener: MessageListener = (message) => onMessage(message);
      await pubSub.subscribe(channel, listener);
      return async () => {
        await pubSub.unsubscribe(channel, listener);
      };
    },
  };
}

export function nodeRedisClientAdapter(client: NodeRedisClient): ClientAdapter {
  return {
    clustered: false,
    send: (args) => client.sendCommand(args),
    async subscribe(channel, onMessage, onError): Promise<Unsubscribe> {
      const subscriber = (client as unknown as Duplicable).duplicate();
      subscriber.on('error', onError);
      const close = async () => {
        // node-redis 5/6 `destroy()`; node-redis 4 only has `disconnect()`.
        if (typeof subscriber.destroy === 'function') subscriber.destroy();
        else await subscriber.disconnect?.();
      };
      try {
        await subscriber.connect();
        await subscriber.subscribe(channel, (message) => onMessage(message));
      } catch (err) {
        await close().catch(() => {});
        throw err;
      }
      return close;
    },
  };
}
