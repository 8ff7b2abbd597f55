// FlagChannel: what a store shared by many processes offers the flag cache (stored values, changes as they happen).

/** A flag change as every process hears it. */
export interface FlagChange {
  name: string;
  on: boolean;
}

/**
 * Where flags are kept for every process: a store shared by many processes
 * provides one (`redisStore`); with a store that has none (`memoryStore`), flags
 * live in each process alone.
 */
export interface FlagChannel {
  /** Every flag that has been set. Rejects when the store cannot answer. */
  readAll(): Promise<Map<string, boolean>>;
  /**
   * Stores one flag and announces the change to every listening process, atomically —
   * or, once `withinMs` have passed (on the store's clock), does nothing and rejects: the
   * caller stops waiting then, and a write it was told failed must never land later.
   */
  write(change: FlagChange, withinMs: number): Promise<void>;
  /**
   * Calls `onChange` for every change any process writes from now on, until the
   * returned function is called. Resolves once listening. Changes written while the
   * store is unreachable are not heard: `readAll` again afterwards.
   */
  listen(onChange: (change: FlagChange) => void): Promise<() => Promise<void>>;
}

/** A store that shares flags between processes. */
export interface FlagChannelProvider {
  flagChannel(): FlagChannel;
}

/** The flag channel of `store`, or `undefined` for a store whose flags stay in each process. */
export function flagChannelOf(store: unknown): FlagChannel | undefined {
  const provider = store as Partial<FlagChannelProvider> | undefined;
  return typeof provider?.flagChannel === 'function' ? provider.flagChannel() : undefined;
}
