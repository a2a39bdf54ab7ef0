"""The Lua scripts RingCache runs on Redis: an atomic ``incr``, and the stand-in guard."""

from __future__ import annotations

__all__ = ["GUARD_SCRIPT", "INCR_SCRIPT"]

#: INCRBY only if the key exists, in one atomic round trip (Django checks EXISTS first).
INCR_SCRIPT = (
    "if redis.call('exists', KEYS[1]) == 1 then "
    "return redis.call('incrby', KEYS[1], ARGV[1]) end return nil"
)
#: Runs commands on a stand-in only while the home node's readmission marker is unchanged.
GUARD_SCRIPT = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return redis.error_reply('ACCORDREADMITTED ' .. current) end
local replies, i = {}, 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local command = {unpack(ARGV, i + 1, i + n)}
  if command[1] == 'ACCORD.INCR' then
    if redis.call('EXISTS', command[2]) == 1 then
      replies[#replies + 1] = redis.call('INCRBY', command[2], command[3])
    else
      replies[#replies + 1] = false
    end
  else
    replies[#replies + 1] = redis.call(unpack(command))
  end
  i = i + n + 1
end
return replies
"""
