"""The Lua scripts the Redis store runs: each one request's whole change, atomic in Redis."""

from __future__ import annotations

__all__ = ["BEGIN", "CLAIM", "COMMIT", "OPEN", "RESET", "USAGE", "WINDOW_SECONDS"]

WINDOW_SECONDS = 60

# KEYS: epoch, request counter, ops. ARGV: known epoch, cursor, initial ops...
# A fresh namespace starts epoch 1 with the initial ops (the clock's start), once.
OPEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], 1)
  for i = 1, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
end
return redis.call('GET', KEYS[1])
"""

# KEYS: epoch, request counter, ops, change counter. ARGV: known epoch, cursor, what is
# numbered ('request': an API request, 'change': an admin change, else nothing).
# -> {epoch, its number (0 if none), new cursor, op...}; the ops from 0 when the epoch changed.
BEGIN = """
local epoch = redis.call('GET', KEYS[1]) or '0'
local number = 0
if ARGV[3] == 'request' then
  number = redis.call('INCR', KEYS[2])
elseif ARGV[3] == 'change' then
  number = redis.call('INCR', KEYS[4])
end
local from = tonumber(ARGV[2])
if epoch ~= ARGV[1] then from = 0 end
local length = redis.call('LLEN', KEYS[3])
local result = {epoch, number, length}
if length > from then
  local ops = redis.call('LRANGE', KEYS[3], from, -1)
  for i = 1, #ops do result[#result + 1] = ops[i] end
end
return result
"""

# A sliding window is a sorted set of "tokens:unique" members scored by expiry, and a hash of
# its totals (r requests, t tokens). A request leaves exactly 60 s after it was counted.
# KEYS: epoch, window, window totals, windows index, ops, journal, journal seq, coverage,
#       run coverage, charge counter, claims.
# ARGV: epoch, charge? (1/0), now, rpm, tpm, prompt, total, journal size, coverage key,
#       entry, scripted reply id ('' for none), its times, op...
# -> {allowed, reason, used requests, used tokens, retry after, journal seq}
# A scripted reply already used ``times`` times this epoch refuses the whole commit ('reply');
# a use is counted (and told to every replica as a reply-used op) only with the rest.
COMMIT = """
local now = tonumber(ARGV[3])
local used_r, used_t = 0, 0
local reply = ARGV[11]
local claim = 'reply:' .. reply
if reply ~= '' and tonumber(redis.call('HGET', KEYS[11], claim) or 0) >= tonumber(ARGV[12]) then
  return {0, 'reply', 0, 0, '0', 0}
end
if ARGV[2] == '1' then
  local rpm, tpm = tonumber(ARGV[4]), tonumber(ARGV[5])
  local prompt, total = tonumber(ARGV[6]), tonumber(ARGV[7])
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  if #expired > 0 then
    local tokens = 0
    for i = 1, #expired do tokens = tokens + tonumber(string.match(expired[i], '^(%d+):')) end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    redis.call('HINCRBY', KEYS[3], 'r', -#expired)
    redis.call('HINCRBY', KEYS[3], 't', -tokens)
  end
  local totals = redis.call('HMGET', KEYS[3], 'r', 't')
  used_r, used_t = tonumber(totals[1] or 0), tonumber(totals[2] or 0)
  if used_r >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local retry = #oldest > 0 and (tonumber(oldest[2]) - now) or WINDOW
    return {0, 'requests', used_r, used_t, tostring(retry), 0}
  end
  if prompt > tpm - used_t then
    local retry = WINDOW
    if prompt <= tpm then
      local left = used_t
      local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
      for i = 1, #entries, 2 do
        left = left - tonumber(string.match(entries[i], '^(%d+):'))
        if prompt <= tpm - left then retry = tonumber(entries[i + 1]) - now break end
      end
    end
    return {0, 'tokens', used_r, used_t, tostring(retry), 0}
  end
  local unique = redis.call('INCR', KEYS[10])
  redis.call('ZADD', KEYS[2], now + WINDOW, total .. ':' .. unique)
  redis.call('HINCRBY', KEYS[3], 'r', 1)
  redis.call('HINCRBY', KEYS[3], 't', total)
  redis.call('SADD', KEYS[4], KEYS[2])
  used_r, used_t = used_r + 1, used_t + total
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {1, '', used_r, used_t, '0', 0}  -- begun before a reset: its changes are void
end
for i = 13, #ARGV do redis.call('RPUSH', KEYS[5], ARGV[i]) end
if reply ~= '' then
  local used = redis.call('HINCRBY', KEYS[11], claim, 1)
  redis.call('RPUSH', KEYS[5], cjson.encode({op = 'reply-used', id = reply, used = used}))
end
local seq = 0
if ARGV[10] ~= '' then
  seq = redis.call('INCR', KEYS[7])
  redis.call('RPUSH', KEYS[6], seq .. ' ' .. ARGV[10])
  redis.call('LTRIM', KEYS[6], -tonumber(ARGV[8]), -1)
end
if ARGV[9] ~= '' then
  redis.call('HINCRBY', KEYS[8], ARGV[9], 1)
  redis.call('HINCRBY', KEYS[9], ARGV[9], 1)
end
return {1, '', used_r, used_t, '0', seq}
""".replace("WINDOW", str(WINDOW_SECONDS))

# KEYS: epoch, claims. ARGV: epoch, name, limit. -> 1 if this is one of the first ``limit``
# claims of ``name`` in the epoch (a fault rule's ``times``), else 0; a refusal counts nothing.
CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local claimed = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or 0)
if claimed >= tonumber(ARGV[3]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""

# KEYS: epoch, request counter, ops, journal, journal seq, coverage, windows index,
#       charge counter, claims, change counter. ARGV: the new epoch's initial ops.
# -> the new epoch.
RESET = """
local windows = redis.call('SMEMBERS', KEYS[7])
for i = 1, #windows do redis.call('DEL', windows[i], windows[i] .. ':totals') end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
local epoch = redis.call('INCR', KEYS[1])
for i = 1, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
return epoch
"""

# KEYS: windows index. ARGV: now. -> {window, requests, tokens, ...} of every live window.
USAGE = """
local now = tonumber(ARGV[1])
local result = {}
local windows = redis.call('SMEMBERS', KEYS[1])
for i = 1, #windows do
  local expired = redis.call('ZRANGEBYSCORE', windows[i], '-inf', now)
  if #expired > 0 then
    local tokens = 0
    for j = 1, #expired do tokens = tokens + tonumber(string.match(expired[j], '^(%d+):')) end
    redis.call('ZREMRANGEBYSCORE', windows[i], '-inf', now)
    redis.call('HINCRBY', windows[i] .. ':totals', 'r', -#expired)
    redis.call('HINCRBY', windows[i] .. ':totals', 't', -tokens)
  end
  local totals = redis.call('HMGET', windows[i] .. ':totals', 'r', 't')
  local r = tonumber(totals[1] or 0)
  if r > 0 then
    result[#result + 1] = windows[i]
    result[#result + 1] = r
    result[#result + 1] = tonumber(totals[2] or 0)
  else
    redis.call('SREM', KEYS[1], windows[i])
    redis.call('DEL', windows[i], windows[i] .. ':totals')
  end
end
return result
"""
