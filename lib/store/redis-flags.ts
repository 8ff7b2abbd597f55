// Flags in Redis: one hash `<prefix>flags` holds them, the channel of the same name announces each change.
import type { RedisConnection } from './redis-transport';
import type { FlagChange, FlagChannel } from './types';
import { StoreUnavailableError } from './unavailable';

/**
 * Stores the flag and publishes the change in one step, so no process can read the new
 * value before it is announced — unless Redis's clock is past ARGV[4] (ms): then the
 * caller has given up and the script does nothing, so a stalled Redis that resumes
 * cannot apply a write its caller was told failed. Returns 1 when written, 0 when late.
 */
const WRITE_SCRIPT = `local time = redis.call('TIME')
if tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) > tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[1], ARGV[3])
return 1`;

/**
 * How much earlier than its caller the script gives up, as a share of the caller's
 * deadline. The deadline is set on this process's estimate of Redis's clock, which
 * errs by up to one reply's travel (plus the hosts' skew before Redis first answered),
 * and a write Redis runs just in time must still get its reply back before the caller's
 * timer fires: otherwise the caller would be told "failed" of a write that landed.
 */
const CLOCK_MARGIN_SHARE = 0.25;

/** Flags shared through `connection` under `prefix` (the store's key prefix), on `now`: the store's estimate of Redis's clock (ms). */
export function redisFlagChannel(
  connection: Pick<RedisConnection, 'send' | 'subscribe'>,
  prefix: string,
  now: () => number = Date.now,
): FlagChannel {
  const key = `${prefix}flags`;
  return {
    async readAll() {
      const reply = await connection.send(['HGETALL', key], key);
      const flags = new Map<string, boolean>();
      if (!Array.isArray(reply)) return flags;
      for (let i = 0; i + 1 < reply.length; i += 2) {
        const value = String(reply[i + 1]);
        if (value === '1' || value === '0') flags.set(String(reply[i]), value === '1');
      }
      return flags;
    },
    async write({ name, on }, withinMs) {
      const deadlineMs = Math.floor(now() + withinMs * (1 - CLOCK_MARGIN_SHARE));
      const args = [name, on ? '1' : '0', JSON.stringify({ name, on }), String(deadlineMs)];
      const written = await connection.send(['EVAL', WRITE_SCRIPT, '1', key, ...args], key);
      if (Number(written) !== 1)
        throw new StoreUnavailableError(`Redis ran the write of flag "${name}" after its deadline: nothing changed`);
    },
    listen(onChange) {
      return connection.subscribe(key, (message) => {
        const change = parseChange(message);
        if (change) onChange(change);
      });
    },
  };
}

/** A message another process published, or `undefined` for anything else on the channel. */
function parseChange(message: string): FlagChange | undefined {
  try {
    const { name, on } = JSON.parse(message) as Partial<FlagChange>;
    return typeof name === 'string' && typeof on === 'boolean' ? { name, on } : undefined;
  } catch {
    return undefined;
  }
}
