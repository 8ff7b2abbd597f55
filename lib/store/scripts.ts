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
 *         (the script names the others from it); then each scope's lease set.
 *   ARGV: nowMs ('' = Redis TIME), deadlineMs, input, maxOutput, leaseId, leaseMs,
 *         then per scope: limit, counter count, validFromMs, validToMs, expiresAtMs, bucketMs,
 *         inputAmount (what the input takes: tokens, or nano-USD), outputWeight (per output token).
 * A fixed window (bucketMs 0) planned for another period is not touched: REPLAN.
 * A sliding window's buckets are named by index, and the window moves on while a
 * request waits in a busy queue; so the script names them again at its own time
 * (same hash tag, same slot) instead of sending the caller back to plan again.
 * Leases past their expiry belong to calls whose process died: they are settled at
 * their input before anything is read.
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
local scopeCount = (#ARGV - 6) / 8
local counterKeys, expiresAt = {}, {}
local k, nextKey = 0, 1
for s = 0, scopeCount - 1 do
  local a = 6 + s * 8
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
local leaseKeys = {}
for s = 1, scopeCount do
  leaseKeys[s] = KEYS[nextKey + s - 1]
  -- At most 64 a call: a crash's leftovers are taken over the next few calls.
  local expired = redis.call('ZRANGEBYSCORE', leaseKeys[s], '-inf', now, 'LIMIT', 0, 64)
  for _, member in ipairs(expired) do
    local amount, leaseInput, windowKey = string.match(member, '^[^|]*|(%d+)|(%d+)|(.+)$')
    local raw = redis.call('GET', windowKey)
    if raw then
      local value = tonumber(raw) - tonumber(amount) + tonumber(leaseInput)
      if value < 0 then value = 0 end
      redis.call('SET', windowKey, value, 'KEEPTTL')
    end
    redis.call('ZREM', leaseKeys[s], member)
    -- Its call may still settle (a process that was only stalled): it then moves by what it used beyond the input.
    local reclaimed = leaseKeys[s] .. ':reclaimed'
    redis.call('HSET', reclaimed, member, 1)
    redis.call('PEXPIRE', reclaimed, 86400000)
  end
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

/** All-or-nothing check-and-add over the scopes of one slot; nothing for a reservation its caller cancelled. */
export const RESERVE_SCRIPT = luaScript(`${PLANNED_WINDOWS_PROLOGUE}
if redis.call('EXISTS', leaseKeys[1] .. ':cancelled:' .. ARGV[5]) == 1 then return {${REPLAN}, now} end
local input = tonumber(ARGV[3])
local outputCap = tonumber(ARGV[4])
local refused = 0
for s = 0, scopeCount - 1 do
  local a = 6 + s * 8
  local used = 0
${READ_COUNTERS}
  local left = tonumber(ARGV[a + 1]) - used - tonumber(ARGV[a + 7])
  local weight = tonumber(ARGV[a + 8])
  local affordable
  -- Free output (a zero price) is affordable while the input is.
  if weight == 0 then
    if left >= 0 then affordable = outputCap else affordable = -1 end
  else
    affordable = math.floor(left / weight)
  end
  if affordable < 1 and refused == 0 then refused = s + 1 end
  if affordable < outputCap then outputCap = affordable end
end
local reply
if refused > 0 then
  reply = {${REFUSED}, now, refused}
else
  reply = {${GRANTED}, now, outputCap}
  local last = 0
  local leaseMs = tonumber(ARGV[6])
  for s = 0, scopeCount - 1 do
    local a = 6 + s * 8
    local inputAmount = tonumber(ARGV[a + 7])
    local amount = inputAmount + math.ceil(outputCap * tonumber(ARGV[a + 8]))
    last = last + tonumber(ARGV[a + 2])
    values[last] = redis.call('INCRBY', counterKeys[last], amount)
    -- The expiry is set once, when the counter is created, and never pushed forward.
    if not existed[last] then redis.call('PEXPIRE', counterKeys[last], expiresAt[s + 1] - now) end
    local member = ARGV[5] .. '|' .. string.format('%d', amount) .. '|' .. string.format('%d', inputAmount) .. '|' .. counterKeys[last]
    redis.call('ZADD', leaseKeys[s + 1], now + leaseMs, member)
    -- The lease set outlives its longest lease.
    if redis.call('PTTL', leaseKeys[s + 1]) < leaseMs + 60000 then redis.call('PEXPIRE', leaseKeys[s + 1], leaseMs + 60000) end
  end
end
for i = 1, k do reply[#reply + 1] = values[i] end
return reply
`);

/** Reads the counters of scopes without changing anything. */
export const USAGE_SCRIPT = luaScript(`${PLANNED_WINDOWS_PROLOGUE}
for s = 0, scopeCount - 1 do
  local a = 6 + s * 8
  local used = 0
${READ_COUNTERS}
end
local reply = {${GRANTED}, now, 0}
for i = 1, k do reply[#reply + 1] = values[i] end
return reply
`);

/**
 * Settles reserved parts: ends each part's lease and moves its counter by what the
 * call used minus what the part took — its amount while the lease was held, only the
 * input's amount once a lease was taken for a dead process (the reserve script notes
 * it in the lease set's `:reclaimed` hash). A part whose lease is in neither was
 * settled already: a settle retried after a lost reply moves nothing, and reports the
 * spend move of the settle that landed (kept an hour beside the lease set), so that the
 * threshold it crossed is still alerted once. A reservation
 * without a lease id holds none: it moves by what was used minus the input. Never below zero; a
 * counter that has expired stays gone. The lease member is named here from KEYS, as
 * the reserve script named it, so that a client's own key prefix is in both. A part
 * that tracks spend also adds what was used to its window's settled counter (which
 * expires keepSpentMs after the window's counter) and reports it before and after;
 * -1, -1 otherwise.
 * KEYS: n counters, then their n lease sets.
 * ARGV: leaseId, then per part: amount, inputAmount, used, tracksSpend (1 or 0), keepSpentMs.
 */
export const SETTLE_SCRIPT = luaScript(`
local n = #KEYS / 2
local reply = {}
for i = 1, n do
  local a = 1 + (i - 1) * 5
  local amount, inputAmount, used = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local member = ARGV[1] .. '|' .. string.format('%d', amount) .. '|' .. string.format('%d', inputAmount) .. '|' .. KEYS[i]
  local taken
  if ARGV[1] == '' then
    taken = inputAmount
  elseif redis.call('ZREM', KEYS[n + i], member) == 1 then
    taken = amount
  elseif redis.call('HDEL', KEYS[n + i] .. ':reclaimed', member) == 1 then
    taken = inputAmount
  end
  local before, after = -1, -1
  local raw = redis.call('GET', KEYS[i])
  -- Neither held nor reclaimed: settled already (a retry whose first attempt landed), so nothing moves.
  if raw and taken then
    local value = tonumber(raw) + used - taken
    if value < 0 then value = 0 end
    redis.call('SET', KEYS[i], value, 'KEEPTTL')
    if ARGV[a + 4] == '1' then
      local spentKey = KEYS[i] .. ':spent'
      after = redis.call('INCRBY', spentKey, used)
      before = after - used
      -- Created now: it expires with its window's counter.
      if redis.call('PTTL', spentKey) < 0 then
        redis.call('PEXPIRE', spentKey, math.max(1, redis.call('PTTL', KEYS[i])) + tonumber(ARGV[a + 5]))
      end
      if ARGV[1] ~= '' then
        redis.call('SET', KEYS[n + i] .. ':moved:' .. ARGV[1], before .. ' ' .. after, 'PX', 3600000)
      end
    end
  elseif not taken and ARGV[a + 4] == '1' and ARGV[1] ~= '' then
    -- A retry of a settle whose reply was lost: its move is reported again, since nobody saw it the first time.
    local moved = redis.call('GET', KEYS[n + i] .. ':moved:' .. ARGV[1])
    if moved then
      local b, f = string.match(moved, '^(%d+) (%d+)$')
      before, after = tonumber(b), tonumber(f)
    end
  end
  reply[#reply + 1] = before
  reply[#reply + 1] = after
end
return reply
`);

/** Reads counters (missing ones as 0). KEYS: the counters. */
export const READ_SCRIPT = luaScript(`
return redis.call('MGET', unpack(KEYS))
`);

/**
 * Adds counts taken elsewhere (a fallback during an outage) to counters, creating
 * them with their window's expiry; a negative count never goes below zero, and a
 * window that has ended is left alone. A count's settled spend is added to the
 * window's settled counter, as the settle script does, and reported before and after
 * (-1, -1 where none was added).
 * A batch is added once: a marker beside its first counter (same slot) keeps its reply
 * for an hour, so that a retry after a lost reply adds nothing and reports the same
 * moves (nobody saw them the first time: the thresholds they crossed still alert once).
 * KEYS: counters. ARGV: nowMs ('' = Redis TIME), batchId, then per counter amount,
 * expiresAtMs, spent and keepSpentMs.
 */
export const ADD_SCRIPT = luaScript(`
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local reply = {}
local marker = KEYS[1] .. ':added:' .. ARGV[2]
local prior = redis.call('GET', marker)
if prior then
  for figure in string.gmatch(prior, '%-?%d+') do reply[#reply + 1] = tonumber(figure) end
  return reply
end
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 4
  local amount, expiresAt, spent = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local before, after = -1, -1
  if expiresAt > now then
    local raw = redis.call('GET', KEYS[i])
    if raw then
      local value = tonumber(raw) + amount
      if value < 0 then value = 0 end
      redis.call('SET', KEYS[i], value, 'KEEPTTL')
    elseif amount > 0 then
      redis.call('SET', KEYS[i], amount, 'PX', expiresAt - now)
    end
    if spent > 0 then
      local spentKey = KEYS[i] .. ':spent'
      after = redis.call('INCRBY', spentKey, spent)
      before = after - spent
      if redis.call('PTTL', spentKey) < 0 then
        redis.call('PEXPIRE', spentKey, expiresAt - now + tonumber(ARGV[a + 3]))
      end
    end
  end
  reply[#reply + 1] = before
  reply[#reply + 1] = after
end
local figures = {}
for j = 1, #reply do figures[j] = string.format('%d', reply[j]) end
redis.call('SET', marker, table.concat(figures, ' '), 'PX', 3600000)
return reply
`);

/**
 * Notes a process alive and counts the live ones: a sorted set of process ids scored
 * by when each stops counting, on Redis's clock.
 * KEYS: the set. ARGV: processId, ttlMs.
 */
export const HEARTBEAT_SCRIPT = luaScript(`
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
`);

/**
 * Cancels a reservation whose caller gave up before its reply came (a stalled or
 * dropped connection): whatever of it was granted is given back (the input too of a
 * lease taken meanwhile for a dead process: the call was never sent), and a marker that
 * outlives the reserve script's own deadline makes a copy still on its way take nothing.
 * KEYS: the lease sets of the reservation's scopes in one slot. ARGV: leaseId, markerMs.
 */
export const CANCEL_SCRIPT = luaScript(`
local prefix = ARGV[1] .. '|'
-- Gives back, for each member of this lease id in key (scanned with scan, removed with remove),
-- what its counter still holds of it: the whole amount of a lease held, the input of one taken for a dead process.
local function giveBack(scan, remove, key, held)
  local cursor = '0'
  repeat
    local page = redis.call(scan, key, cursor, 'MATCH', prefix .. '*', 'COUNT', 1000)
    cursor = page[1]
    for j = 1, #page[2], 2 do
      local member = page[2][j]
      local amount, leaseInput, windowKey = string.match(member, '^[^|]*|(%d+)|(%d+)|(.+)$')
      local raw = redis.call('GET', windowKey)
      if raw then
        local value = tonumber(raw) - tonumber(held and amount or leaseInput)
        if value < 0 then value = 0 end
        redis.call('SET', windowKey, value, 'KEEPTTL')
      end
      redis.call(remove, key, member)
    end
  until cursor == '0'
end
for _, leaseKey in ipairs(KEYS) do
  redis.call('SET', leaseKey .. ':cancelled:' .. ARGV[1], '1', 'PX', tonumber(ARGV[2]))
  giveBack('ZSCAN', 'ZREM', leaseKey, true)
  -- Taken for a dead process meanwhile, it kept its input: nothing was sent, so that goes back too.
  giveBack('HSCAN', 'HDEL', leaseKey .. ':reclaimed', false)
end
return 0
`);

/**
 * Adds increments to rankings (sorted sets) of one slot; a ranking created here expires
 * after its lifetime, which later increments never push forward.
 * KEYS: the rankings. ARGV: per key, member, amount, ttlMs.
 */
export const RANK_SCRIPT = luaScript(`
for i, key in ipairs(KEYS) do
  local at = (i - 1) * 3
  local fresh = redis.call('EXISTS', key) == 0
  redis.call('ZINCRBY', key, ARGV[at + 2], ARGV[at + 1])
  if fresh then redis.call('PEXPIRE', key, ARGV[at + 3]) end
end
return 0
`);
