// The Lua scripts of the Redis store, pinned by the SHA-1 that EVALSHA names them by.
import { createHash } from 'node:crypto';

export interface LuaScript {
  source: string;
  /** What Redis calls the script once cached: the SHA-1 of its source. */
  sha1: string;
}

function luaScript(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** Reply status shared by the scripts that plan windows. */
export const GRANTED = 0;
export const REFUSED = 1;
/** Redis's time is past the deadline or outside a window the caller planned: nothing was done. */
export const REPLAN = 2;

/*
 * Argument layout of the scripts that plan windows (reserve, usage):
 *   KEYS: every fixed scope's counter; for a sliding scope, only its current bucket
 *         (the script names the others from it).
 *   ARGV: nowMs ('' = Redis TIME), deadlineMs, input, maxOutput,
 *         then per scope: limit, counter count, validFromMs, validToMs, expiresAtMs, bucketMs.
 * A fixed window (bucketMs 0) planned for another period is not touched: REPLAN.
 * A sliding window's buckets are named by index, and the window moves on while a
 * request waits in a busy queue; so the script names them again at its own time
 * (same hash tag, same slot) instead of sending the caller back to plan again.
 * Reply: {status, nowMs, outputCap or 1-based refusing scope, every counter after the call}.
 */
const PLANNED_WINDOWS_PROLOGUE = `
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
-- Run after the caller gave up (a stalled server, a long queue): take nothing.
if now > tonumber(ARGV[2]) then return {${REPLAN}, now} end
local scopeCount = (#ARGV - 4) / 6
local counterKeys, expiresAt = {}, {}
local k, nextKey = 0, 1
for s = 0, scopeCount - 1 do
  local a = 4 + s * 6
  local count, bucketMs = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 6])
  expiresAt[s + 1] = tonumber(ARGV[a + 5])
  if bucketMs > 0 then
    local base = string.match(KEYS[nextKey], '^(.*:)%-?%d+$')
    nextKey = nextKey + 1
    local current = math.floor(now / bucketMs)
    for j = 1, count do counterKeys[k + j] = base .. string.format('%d', current - count + j) end
    expiresAt[s + 1] = (current + count + 1) * bucketMs
  elseif now < tonumber(ARGV[a + 3]) or now >= tonumber(ARGV[a + 4]) then
    return {${REPLAN}, now}
  else
    for j = 1, count do counterKeys[k + j] = KEYS[nextKey + j - 1] end
    nextKey = nextKey + count
  end
  k = k + count
end
local values, existed = {}, {}
k = 0
`;

/** One MGET per scope: a sliding window is 61 counters, and 61 GETs cost as much as the rest of the script. */
const READ_COUNTERS = `
  local count = tonumber(ARGV[a + 2])
  local raws = redis.call('MGET', unpack(counterKeys, k + 1, k + count))
  for j = 1, count do
    k = k + 1
    existed[k] = raws[j] ~= false
    values[k] = tonumber(raws[j] or 0)
    used = used + values[k]
  end
`;

/** All-or-nothing check-and-add over the scopes of one slot. */
export const RESERVE_SCRIPT = luaScript(`${PLANNED_WINDOWS_PROLOGUE}
local input = tonumber(ARGV[3])
local outputCap = tonumber(ARGV[4])
local refused = 0
for s = 0, scopeCount - 1 do
  local a = 4 + s * 6
  local used = 0
${READ_COUNTERS}
  local affordable = tonumber(ARGV[a + 1]) - used - input
  if affordable < 1 and refused == 0 then refused = s + 1 end
  if affordable < outputCap then outputCap = affordable end
end
local reply
if refused > 0 then
  reply = {${REFUSED}, now, refused}
else
  reply = {${GRANTED}, now, outputCap}
  local last = 0
  for s = 0, scopeCount - 1 do
    local a = 4 + s * 6
    last = last + tonumber(ARGV[a + 2])
    values[last] = redis.call('INCRBY', counterKeys[last], input + outputCap)
    -- The expiry is set once, when the counter is created, and never pushed forward.
    if not existed[last] then redis.call('PEXPIRE', counterKeys[last], expiresAt[s + 1] - now) end
  end
end
for i = 1, k do reply[#reply + 1] = values[i] end
return reply
`);

/** Reads the counters of scopes without changing anything. */
export const USAGE_SCRIPT = luaScript(`${PLANNED_WINDOWS_PROLOGUE}
for s = 0, scopeCount - 1 do
  local a = 4 + s * 6
  local used = 0
${READ_COUNTERS}
end
local reply = {${GRANTED}, now, 0}
for i = 1, k do reply[#reply + 1] = values[i] end
return reply
`);

/**
 * Moves existing counters, never below zero; a counter that has expired stays gone.
 * KEYS: counters; ARGV[i]: how much to move KEYS[i] by (negative gives tokens back).
 */
export const SETTLE_SCRIPT = luaScript(`
for i = 1, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  if raw then
    local value = tonumber(raw) + tonumber(ARGV[i])
    if value < 0 then value = 0 end
    redis.call('SET', KEYS[i], value, 'KEEPTTL')
  end
end
return 0
`);
