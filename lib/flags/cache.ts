// The flag cache: this process's copy of every flag, kept fresh by the store's announcements and a periodic re-read.
import { checkName, fail } from '../options/check';
import { withinDeadline } from '../store/deadline';
import { errorReporter } from '../store/report';
import type { FeatureFlags } from '../types';
import type { FlagChange, FlagChannel } from '../store/types';

export interface FlagCacheOptions {
  /** Where flags are shared between processes; without one they live in this process alone. */
  channel?: FlagChannel;
  /** How often the stored flags are read again, in case an announcement was lost (ms). Default 5000. */
  refreshMs?: number;
  /** Deadline of one read or write of the store (ms). Default 1000. */
  timeoutMs?: number;
  /** Told when the store cannot be reached, once per outage. Default: one `console.warn`. */
  onError?: (err: Error) => void;
}

export interface FlagCache extends FeatureFlags {
  /** The value known here now, without waiting; `undefined` when never set. */
  peek(name: string): boolean | undefined;
  /** Whether the first read of the store has ended (read, failed or timed out). */
  readonly loaded: boolean;
  /** Whether the store's flags were read at least once (always, without a channel): until then a flag's state is unknown. */
  readonly known: boolean;
  /** Resolves once `loaded`; never rejects. */
  whenLoaded(): Promise<void>;
}

/**
 * A flag cache over `channel`: it listens to the announced changes, reads every
 * flag once at start and every `refreshMs` after, and keeps its last values while
 * the store is unreachable. Without a channel, flags are this process's own.
 */
export function createFlagCache(options: FlagCacheOptions = {}): FlagCache {
  const { channel } = options;
  const refreshMs = options.refreshMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 1000;
  const report = errorReporter(options.onError);
  const values = new Map<string, boolean>();
  // A read answers for the moment Redis ran it; a change heard or made while it was on
  // its way may be newer, so every change is numbered and a read never undoes a later one.
  let version = 0;
  const changedAt = new Map<string, number>();
  let inOutage = false;
  let loaded = !channel;
  let known = !channel;
  let closed = false;
  let refreshing = false;
  let subscription: Promise<() => Promise<void>> | undefined;

  const apply = ({ name, on }: FlagChange) => {
    version += 1;
    changedAt.set(name, version);
    values.set(name, on);
  };
  const changedSince = (name: string, since: number) => (changedAt.get(name) ?? 0) > since;

  // A read still in flight when the cache was closed fails with its connection: no outage to tell.
  const noteFailure = (err: unknown) => {
    if (!inOutage && !closed) report(err instanceof Error ? err : new Error(String(err)));
    inOutage = true;
  };

  /** Listens to announcements unless already listening; a failed attempt is retried by the next refresh. */
  const listen = (flags: FlagChannel) => {
    if (subscription || closed) return subscription;
    const attempt = flags.listen(apply);
    subscription = attempt;
    attempt.catch((err: unknown) => {
      if (subscription === attempt) subscription = undefined;
      noteFailure(err);
    });
    return attempt;
  };

  const refresh = async (flags: FlagChannel) => {
    if (refreshing || closed) return;
    refreshing = true;
    const readFrom = version;
    try {
      const stored = await withinDeadline(timeoutMs, flags.readAll());
      for (const name of values.keys()) if (!stored.has(name) && !changedSince(name, readFrom)) values.delete(name);
      for (const [name, on] of stored) if (!changedSince(name, readFrom)) values.set(name, on);
      inOutage = false;
      known = true;
    } catch (err) {
      noteFailure(err);
    } finally {
      refreshing = false;
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const firstLoad = channel
    ? (async () => {
        // Subscribing and reading side by side: one after the other, a stalled store would cost two deadlines.
        const listening = listen(channel);
        const subscribed = listening
          ? withinDeadline(timeoutMs, listening).then(
              () => true,
              () => false,
            )
          : false;
        await Promise.all([subscribed, refresh(channel)]);
        // The read may have been taken before the subscription was up: a change between them is read again now.
        if (await subscribed) void refresh(channel);
        loaded = true;
        timer = setInterval(() => {
          listen(channel);
          void refresh(channel);
        }, refreshMs);
        timer.unref();
        if (closed) clearInterval(timer);
      })()
    : Promise.resolve();

  const whenLoaded = () => firstLoad;

  return {
    peek: (name) => values.get(name),
    get loaded() {
      return loaded;
    },
    get known() {
      return known;
    },
    whenLoaded,

    async set(name, on) {
      checkName(name, 'A flag name');
      if (typeof on !== 'boolean')
        fail('TB_INVALID_OPTION', `flags.set("${name}", on) needs on to be true or false; got ${JSON.stringify(on)}.`);
      if (!channel) return apply({ name, on });
      const before = version;
      await withinDeadline(timeoutMs, channel.write({ name, on }, timeoutMs));
      // Our own announcement may already have come back, followed by a later change from elsewhere.
      if (!changedSince(name, before)) apply({ name, on });
    },

    async get(name) {
      await whenLoaded();
      return values.get(name);
    },

    async list() {
      await whenLoaded();
      return Object.fromEntries([...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    },

    async close() {
      closed = true;
      clearInterval(timer);
      const listening = subscription;
      subscription = undefined;
      // A subscription still connecting is stopped whenever it connects; close() does not wait for a dead server.
      const stopping = listening?.then(
        (stop) => stop(),
        () => {},
      );
      if (stopping) await withinDeadline(timeoutMs, stopping).catch(() => {});
    },
  };
}
