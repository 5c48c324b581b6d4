"""The Lua scripts the Redis store runs: each one request's whole change, atomic in Redis."""

from __future__ import annotations

__all__ = [
    "BEGIN",
    "CLAIM",
    "COMMIT",
    "JOURNAL_SLACK",
    "OPEN",
    "RESET",
    "SERVE",
    "USAGE",
    "WINDOW_SECONDS",
]

WINDOW_SECONDS = 60
# How far past its size the journal may grow before a commit trims it (readers take the newest).
JOURNAL_SLACK = 64

# KEYS: epoch, request counter, ops. ARGV: known epoch, cursor, initial ops...
# A fresh namespace starts with the initial ops (the clock's start), once, at an epoch no
# earlier namespace of that name had: Redis's time in microseconds. A Redis restarted without
# its data opens the namespace again, and a replica that knew epoch 1 before would take a
# second epoch 1 for its own and keep its stale state and cursor (resets only count up).
OPEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[1], now[1] .. string.format('%06d', tonumber(now[2])))
  for i = 1, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
end
return redis.call('GET', KEYS[1])
"""

# KEYS: the namespace. ARGV: known epoch, cursor, what is numbered ('request': an API
# request, 'change': an admin change, else nothing), and 'usage' for a usage export.
# -> {epoch, its number (0 if none), new cursor, count of ops, op..., [usage field, count]...};
# the ops from 0 when the epoch changed; the usage sums (see _BODY) only when asked.
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
local ops = redis.call('LRANGE', ns .. ':ops', from, -1)
local result = {epoch, number, from + #ops, #ops}
for i = 1, #ops do result[#result + 1] = ops[i] end
if ARGV[4] == 'usage' then
  local usage = redis.call('HGETALL', ns .. ':usage')
  for i = 1, #usage do result[#result + 1] = usage[i] end
end
return result
"""

# A sliding window is a sorted set of "tokens:unique" members scored by expiry, and its totals
# "requests tokens" in one string (one GET and one SET a charge). A request leaves exactly 60 s
# after it was counted.
# KEYS: the namespace (every key of it is named from it here), the window.
# ARGV: "epoch charge?(1/0) now rpm tpm prompt total journal-size reply-times [SERVE's three]"
#       (one string: each argument costs the client a packing step, on every request's path),
#       coverage key, entry, scripted reply id ('' for none), tally ('' for none), op...
# -> {allowed, reason, used requests, used tokens, retry after, journal seq}
# A scripted reply already used ``times`` times this epoch refuses the whole commit ('reply');
# a use is counted (and told to every replica as a reply-used op) only with the rest.
# A tally "input output key" (a served completion's tokens and its usage key) is summed in the
# ``ns:usage`` hash, as r<key> (requests), i<key> and o<key> (tokens): read only by a usage
# export, and as big as the distinct keys (a second, a key, a model...), not as the requests.
# Every op in the ops log can change an answer, and every replica applies every one of them.
# Each call of redis.call costs Redis about as much as the command itself: they are counted.
_HEAD = """
local ns, window = KEYS[1], KEYS[2]
local h = {}
for value in string.gmatch(ARGV[1], '%S+') do h[#h + 1] = value end
"""

_BODY = """
local claims = ns .. ':claims'
local now = tonumber(h[3])
local used_r, used_t = 0, 0
local reply = ARGV[4]
local claim = 'reply:' .. reply
if reply ~= '' and tonumber(redis.call('HGET', claims, claim) or 0) >= tonumber(h[9]) then
  return finish({0, 'reply', 0, 0, '0', 0})
end
if h[2] == '1' then
  local rpm, tpm = tonumber(h[4]), tonumber(h[5])
  local prompt, total = tonumber(h[6]), tonumber(h[7])
  local sum_key = window .. ':sum'
  local sum = redis.call('GET', sum_key)
  if sum then
    local r, t = string.match(sum, '^(%d+) (%d+)$')
    used_r, used_t = tonumber(r), tonumber(t)
  end
  local expired = redis.call('ZRANGEBYSCORE', window, '-inf', now)
  if #expired > 0 then
    for i = 1, #expired do used_t = used_t - tonumber(string.match(expired[i], '^(%d+):')) end
    used_r = used_r - #expired
    redis.call('ZREMRANGEBYSCORE', window, '-inf', now)
  end
  local refused, retry
  if used_r >= rpm then
    local oldest = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
    refused, retry = 'requests', #oldest > 0 and (tonumber(oldest[2]) - now) or WINDOW
  elseif prompt > tpm - used_t then
    refused, retry = 'tokens', WINDOW
    if prompt <= tpm then
      local left = used_t
      local entries = redis.call('ZRANGE', window, 0, -1, 'WITHSCORES')
      for i = 1, #entries, 2 do
        left = left - tonumber(string.match(entries[i], '^(%d+):'))
        if prompt <= tpm - left then retry = tonumber(entries[i + 1]) - now break end
      end
    end
  end
  if refused then
    if #expired > 0 then redis.call('SET', sum_key, used_r .. ' ' .. used_t) end
    return finish({0, refused, used_r, used_t, tostring(retry), 0})
  end
  if used_r == 0 then redis.call('SADD', ns .. ':windows', window) end
  redis.call('ZADD', window, now + WINDOW, total .. ':' .. unique())
  used_r, used_t = used_r + 1, used_t + total
  redis.call('SET', sum_key, used_r .. ' ' .. used_t)
end
if epoch() ~= h[1] then
  return finish({1, '', used_r, used_t, '0', 0})  -- begun before a reset: its changes are void
end
local ops = ns .. ':ops'
for i = 6, #ARGV do redis.call('RPUSH', ops, ARGV[i]) end
if ARGV[5] ~= '' then
  local input, output, key = string.match(ARGV[5], '^(%d+) (%d+) (.*)$')
  local usage = ns .. ':usage'
  redis.call('HINCRBY', usage, 'r' .. key, 1)
  redis.call('HINCRBY', usage, 'i' .. key, input)
  redis.call('HINCRBY', usage, 'o' .. key, output)
end
if reply ~= '' then
  local used = redis.call('HINCRBY', claims, claim, 1)
  redis.call('RPUSH', ops, cjson.encode({op = 'reply-used', id = reply, used = used}))
end
local seq = 0
if ARGV[3] ~= '' then
  local journal = ns .. ':journal'
  seq = redis.call('INCR', ns .. ':journal-seq')
  -- Trimmed a little past its size, not at every push: readers take the newest ``size``.
  local size = tonumber(h[8])
  if redis.call('RPUSH', journal, seq .. ' ' .. ARGV[3]) > size + SLACK then
    redis.call('LTRIM', journal, -size, -1)
  end
end
if ARGV[2] ~= '' then
  redis.call('HINCRBY', ns .. ':coverage', ARGV[2], 1)
  redis.call('HINCRBY', ns .. ':run-coverage', ARGV[2], 1)
end
return finish({1, '', used_r, used_t, '0', seq})
""".replace("WINDOW", str(WINDOW_SECONDS)).replace("SLACK", str(JOURNAL_SLACK))

# A request BEGIN already numbered: its changes, charged and committed.
COMMIT = (
    _HEAD
    + """
local function finish(result) return result end
local function epoch() return redis.call('GET', ns .. ':epoch') end
local function unique() return redis.call('INCR', ns .. ':charges') end
"""
    + _BODY
)

# BEGIN and COMMIT in one: an API request its replica answered from the state it had at a
# cursor, under a number it guessed. SERVE's three header fields: that cursor, the cursor the
# replica has now, and whether it wants the ops past it (1) or not (0: another call in flight
# fetches them). Numbered here; committed only if no op came after the first cursor (and the
# epoch is the one sent), else the outcome is {-1, 'stale', ...}.
# Either way the reply goes on with {epoch, number, new cursor, op...} (the ops from the second
# cursor, from 0 if the epoch changed; on any refusal whatever the flag); {-2} if the
# namespace is gone.
SERVE = (
    _HEAD
    + """
local current = redis.call('GET', ns .. ':epoch')
if not current then return {-2} end
local number = redis.call('INCR', ns .. ':number')
local from = tonumber(h[11])
if current ~= h[1] then from = 0 end
local function finish(result)
  local ops = {}
  -- Any refusal hands the ops over: the replica answers again (or not) knowing them.
  if h[12] == '1' or result[1] ~= 1 then ops = redis.call('LRANGE', ns .. ':ops', from, -1) end
  result[7], result[8], result[9] = current, number, from + #ops
  for i = 1, #ops do result[9 + i] = ops[i] end
  return result
end
local function epoch() return current end
local function unique() return h[1] .. ':' .. number end
if current ~= h[1] or redis.call('LLEN', ns .. ':ops') > tonumber(h[10]) then
  return finish({-1, 'stale', 0, 0, '0', 0})
end
"""
    + _BODY
)

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
#       charge counter, claims, change counter, usage. ARGV: the new epoch's initial ops.
# -> the new epoch.
RESET = """
local windows = redis.call('SMEMBERS', KEYS[7])
for i = 1, #windows do redis.call('DEL', windows[i], windows[i] .. ':sum') end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10],
  KEYS[11])
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
  local window, r, t = windows[i], 0, 0
  local sum = redis.call('GET', window .. ':sum')
  if sum then
    local requests, tokens = string.match(sum, '^(%d+) (%d+)$')
    r, t = tonumber(requests), tonumber(tokens)
  end
  local expired = redis.call('ZRANGEBYSCORE', window, '-inf', now)
  if #expired > 0 then
    for j = 1, #expired do t = t - tonumber(string.match(expired[j], '^(%d+):')) end
    r = r - #expired
    redis.call('ZREMRANGEBYSCORE', window, '-inf', now)
    redis.call('SET', window .. ':sum', r .. ' ' .. t)
  end
  if r > 0 then
    result[#result + 1] = window
    result[#result + 1] = r
    result[#result + 1] = t
  else
    redis.call('SREM', KEYS[1], window)
    redis.call('DEL', window, window .. ':sum')
  end
end
return result
"""
