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
 * Key of one principal's quota for one kind of period. The principal alone is the
 * hash tag, so all its periods live in one cluster slot. The user quota keeps its
 * historical keys: `u:{u=alice}:day`, and `a:{anonymous}:day` for no user. Any other
 * quota: `q:{team:i=acme}:day`, and `q:{team}:day` for no principal. Names never hold
 * `:` or `=`, ids are readable (`u=`/`i=`) or hashed (`h=`), and only the anonymous
 * budget has no `:` in braces: no two (name, id) pairs share a key.
 */
export function quotaScopeKey(quotaName: string, id: string | undefined, periodName: string): string {
  if (quotaName === 'user') {
    if (id === undefined) return `a:{anonymous}:${periodName}`;
    return `u:{${READABLE_NAME.test(id) ? `u=${id}` : safeName(id)}}:${safeName(periodName)}`;
  }
  const name = safeName(quotaName);
  if (id === undefined) return `q:{${name}}:${safeName(periodName)}`;
  return `q:{${name}:${READABLE_NAME.test(id) ? `i=${id}` : safeName(id)}}:${safeName(periodName)}`;
}

/** Key of one user's quota, e.g. `u:{u=alice}:day`. */
export function userScopeKey(userId: string, periodName: string): string {
  return quotaScopeKey('user', userId, periodName);
}

/** Key of a process-wide budget such as the global tokens-per-minute, e.g. `g:{tpm}`. */
export function globalScopeKey(name: string): string {
  return `g:{${safeName(name)}}`;
}
