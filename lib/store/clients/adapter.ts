// The few things token-budget needs of a Redis client, whichever client the app uses.

export interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** Stops a subscription and closes the connection it used. */
export type Unsubscribe = () => Promise<void>;

/** One supported client family, behind the same three operations. */
export interface ClientAdapter {
  /** Whether keys of different hash tags live on different nodes. */
  readonly clustered: boolean;
  /** Sends any command, raw reply back; on a cluster, to the node owning `firstKey`. */
  send(args: string[], firstKey?: string): Promise<unknown>;
  /** Subscribes to `channel`; errors of a connection opened for it go to `onError`. */
  subscribe(channel: string, onMessage: (message: string) => void, onError: (err: Error) => void): Promise<Unsubscribe>;
}
