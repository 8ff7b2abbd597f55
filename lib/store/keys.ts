// Scope keys: readable where the name is safe, hashed otherwise, with the Redis Cluster hash tag in braces.
import { createHash } from 'node:crypto';

/**
 * Names kept as they are. `=` is left out on purpose: every hashed name starts with
 * `h=`, so no readable name can ever equal a hashed one.
 */
const READABLE_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * The name itself when it is short and in the safe set, else `h=` + SHA-256 in
 * base64url. The hash covers the UTF-16 code units, not UTF-8, because UTF-8 turns
 * every lone surrogate into U+FFFD and two different ids would share a key.
 */
function safeName(name: string): string {
  if (READABLE_NAME.test(name)) return name;
  return `h=${createHash('sha256').update(Buffer.from(name, 'utf16le')).digest('base64url')}`;
}

/** Key of a feature's budget, e.g. `f:{chat}`. */
export function featureScopeKey(featureName: string): string {
  return `f:{${safeName(featureName)}}`;
}

/**
 * Key of one user's quota for one kind of period, e.g. `u:{u=alice}:day`. The user
 * id alone is the hash tag, so all of a user's periods live in one cluster slot.
 */
export function userScopeKey(userId: string, periodName: string): string {
  // `u=` marks a readable id; safeName's `h=` marks a hashed one.
  const id = READABLE_NAME.test(userId) ? `u=${userId}` : safeName(userId);
  return `u:{${id}}:${safeName(periodName)}`;
}

/** Key of a process-wide budget such as the global tokens-per-minute, e.g. `g:{tpm}`. */
export function globalScopeKey(name: string): string {
  return `g:{${safeName(name)}}`;
}
