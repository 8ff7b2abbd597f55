// Flags in Redis: one hash `<prefix>flags` holds them, the channel of the same name announces each change.
import type { RedisConnection } from '../store/redis-transport';
import type { FlagChange, FlagChannel } from './channel';

/** Stores the flag and publishes the change in one step, so no process can read the new value before it is announced. */
const WRITE_SCRIPT = `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[1], ARGV[3])
return 1`;

/** Flags shared through `connection` under `prefix` (the store's key prefix). */
export function redisFlagChannel(connection: Pick<RedisConnection, 'send' | 'subscribe'>, prefix: string): FlagChannel {
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
    async write({ name, on }) {
      await connection.send(['EVAL', WRITE_SCRIPT, '1', key, name, on ? '1' : '0', JSON.stringify({ name, on })], key);
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
