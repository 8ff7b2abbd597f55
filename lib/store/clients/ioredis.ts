// ioredis 5 and 6, single client (`new Redis()`) or cluster (`new Redis.Cluster()`), seen through what they share.
import type { ClientAdapter, ErrorEmitter, Unsubscribe } from './adapter';

/** What token-budget uses of an ioredis 5/6 client (`new Redis()`) or cluster (`new Redis.Cluster()`). */
export interface IoRedisClient extends ErrorEmitter {
  readonly isCluster: boolean;
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** A dedicated connection for SUBSCRIBE, so the app's own connection keeps serving commands. */
interface Subscriber {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  disconnect(): void;
}

export function isIoRedis(client: object): client is IoRedisClient {
  const candidate = client as Partial<IoRedisClient>;
  return typeof candidate.call === 'function' && typeof candidate.isCluster === 'boolean';
}

export function ioRedisAdapter(client: IoRedisClient): ClientAdapter {
  return {
    clustered: client.isCluster,
    // ioredis finds the keys of a command itself (EVALSHA's included) and routes a cluster call by them.
    send: ([command, ...args]) => client.call(command!, ...args),
    async subscribe(channel, onMessage, onError): Promise<Unsubscribe> {
      const subscriber = (client as unknown as { duplicate(): Subscriber }).duplicate();
      subscriber.on('error', onError);
      subscriber.on('message', (from, message) => {
        if (from === channel) onMessage(message);
      });
      try {
        await subscriber.subscribe(channel);
      } catch (err) {
        subscriber.disconnect();
        throw err;
      }
      return async () => subscriber.disconnect();
    },
  };
}
