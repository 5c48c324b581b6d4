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

# KEYS: the namespace. ARGV: known epoch, cursor, what is numbered ('request': an API
# request, 'change': an admin change, else nothing).
# -> {epoch, its number (0 if none), new cursor, op...}; the ops from 0 when the epoch changed.
BEGIN = """
local ns = KEYS[1]
local epoch = redis.call('GET', ns .. ':epoch') or '0'
local number = 0
if ARGV[3] == 'request' then
  number = redis.call('INCR', ns .. ':number')
elseif ARGV[3] == 'change' then
  number = redis.call('INCR', ns .. ':changes')
end
local from = tonumber(ARGV[2])
if epoch ~= ARGV[1] then from = 0 end
local length = redis.call('LLEN', ns .. ':ops')
local result = {epoch, number, length}
if length > from then
  local ops = redis.call('LRANGE', ns .. ':ops', from, -1)
  for i = 1, #ops do result[#result + 1] = ops[i] end
end
return result
"""

# A sliding window is a sorted set of "tokens:unique" members scored by expiry, and a hash of
# its totals (r requests, t tokens). A request leaves exactly 60 s after it was counted.
# KEYS: the namespace (every key of it is named from it here), the window.
# ARGV: "epoch charge?(1/0) now rpm tpm prompt total journal-size reply-times" (one string:
#       each argument costs the client a packing step, on the path of every request),
#       coverage key, entry, scripted reply id ('' for none), op...
# -> {allowed, reason, used requests, used tokens, retry after, journal seq}
# A scripted reply already used ``times`` times this epoch refuses the whole commit ('reply');
# a use is counted (and told to every replica as a reply-used op) only with the rest.
COMMIT = """
local ns, window = KEYS[1], KEYS[2]
local totals_key = window .. ':totals'
local claims = ns .. ':claims'
local h = {}
for value in string.gmatch(ARGV[1], '%S+') do h[#h + 1] = value end
local now = tonumber(h[3])
local used_r, used_t = 0, 0
local reply = ARGV[4]
local claim = 'reply:' .. reply
if reply ~= '' and tonumber(redis.call('HGET', claims, claim) or 0) >= tonumber(h[9]) then
  return {0, 'reply', 0, 0, '0', 0}
end
if h[2] == '1' then
  local rpm, tpm = tonumber(h[4]), tonumber(h[5])
  local prompt, total = tonumber(h[6]), tonumber(h[7])
  local expired = redis.call('ZRANGEBYSCORE', window, '-inf', now)
  if #expired > 0 then
    local tokens = 0
    for i = 1, #expired do tokens = tokens + tonumber(string.match(expired[i], '^(%d+):')) end
    redis.call('ZREMRANGEBYSCORE', window, '-inf', now)
    redis.call('HINCRBY', totals_key, 'r', -#expired)
    redis.call('HINCRBY', totals_key, 't', -tokens)
  end
  local totals = redis.call('HMGET', totals_key, 'r', 't')
  used_r, used_t = tonumber(totals[1] or 0), tonumber(totals[2] or 0)
  if used_r >= rpm then
    local oldest = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
    local retry = #oldest > 0 and (tonumber(oldest[2]) - now) or WINDOW
    return {0, 'requests', used_r, used_t, tostring(retry), 0}
  end
  if prompt > tpm - used_t then
    local retry = WINDOW
    if prompt <= tpm then
      local left = used_t
      local entries = redis.call('ZRANGE', window, 0, -1, 'WITHSCORES')
      for i = 1, #entries, 2 do
        left = left - tonumber(string.match(entries[i], '^(%d+):'))
        if prompt <= tpm - left then retry = tonumber(entries[i + 1]) - now break end
      end
    end
    return {0, 'tokens', used_r, used_t, tostring(retry), 0}
  end
  local unique = redis.call('INCR', ns .. ':charges')
  redis.call('ZADD', window, now + WINDOW, total .. ':' .. unique)
  redis.call('HINCRBY', totals_key, 'r', 1)
  redis.call('HINCRBY', totals_key, 't', total)
  redis.call('SADD', ns .. ':windows', window)
  used_r, used_t = used_r + 1, used_t + total
end
if redis.call('GET', ns .. ':epoch') ~= h[1] then
  return {1, '', used_r, used_t, '0', 0}  -- begun before a reset: its changes are void
end
local ops = ns .. ':ops'
for i = 5, #ARGV do redis.call('RPUSH', ops, ARGV[i]) end
if reply ~= '' then
  local used = redis.call('HINCRBY', claims, claim, 1)
  redis.call('RPUSH', ops, cjson.encode({op = 'reply-used', id = reply, used = used}))
end
local seq = 0
if ARGV[3] ~= '' then
  local journal = ns .. ':journal'
  seq = redis.call('INCR', ns .. ':journal-seq')
  redis.call('RPUSH', journal, seq .. ' ' .. ARGV[3])
  redis.call('LTRIM', journal, -tonumber(h[8]), -1)
end
if ARGV[2] ~= '' then
  redis.call('HINCRBY', ns .. ':coverage', ARGV[2], 1)
  redis.call('HINCRBY', ns .. ':run-coverage', ARGV[2], 1)
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
