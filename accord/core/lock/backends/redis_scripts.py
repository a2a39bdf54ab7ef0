"""The Lua scripts of the Redis lock backend, and the keys they use.

Every script gets one key, ``KEYS[1]`` = :func:`holder_key`; the others add a
suffix to it, so a hash tag keeps them all on one cluster slot:

==============================  ==============================================================
``accord:lock:{<name>}``        the holder's owner id, expiring ``ttl`` after the last renewal
``...:fence``                   the last fencing token issued (the holder's)
``...:queue``                   waiters in arrival order (sorted set)
``...:alive``                   each waiter's liveness deadline in ms (sorted set)
``...:ttls``                    each waiter's ttl in ms (hash)
``...:wake:<owner>``            a waiter's wake list: its token when the lock is handed to it
``...:handed``                  set for ``claim_ms`` after a hand-over (the claim window)
``...:released``                the owner whose release ran last (until its lease would have ended)
==============================  ==============================================================

Tokens never go below the server's clock in microseconds, so a restart or a
failover that lost the counter still issues greater tokens, unless the new
server's clock is behind the old one's.

A hand-over gives the lock to the first live waiter and pushes its token to
its wake list. A waiter blocked in ``BLPOP`` empties that list the moment it
is pushed; a waiter that died leaves it full. Whoever looks at the lock once
the claim window closed (the next waiters poll at least every ``claim_ms /
2``) takes the lock away from a holder whose wake list is still full: a
waiter killed just before the hand-over costs the others about
``claim_ms``, not its ``ttl``.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "CANCEL", "HOLDER", "RELEASE", "RENEW", "TAKE_OVER", "holder_key"]


def holder_key(name: str) -> str:
    """The key that holds lock *name*'s owner; the others add a suffix to it."""
    return f"accord:lock:{{{name}}}"


# Every script starts with its common path, which defines nothing: building the
# helpers below costs more than the path itself. The names they use:
_NAMES = """
local lock = KEYS[1]
local queue, fence = lock .. ':queue', lock .. ':fence'
"""

# Above the last token and never below the clock in microseconds (exact in a
# double). Never ahead of the clock either (but by the odd microsecond): a
# counter restored from a snapshot then stays below the tokens to come.
# INCRBY's argument is a Lua number, which Redis writes without exponent below 2^53.
_NEXT_TOKEN = """
local function next_token()
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local n = redis.call('INCR', fence)
  if n < floor then n = redis.call('INCRBY', fence, floor - n) end
  return n
end
"""

_HELPERS = """
local alive, ttls = lock .. ':alive', lock .. ':ttls'
local wake, handed = lock .. ':wake:', lock .. ':handed'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function forget(w)
  redis.call('ZREM', queue, w)
  redis.call('ZREM', alive, w)
  redis.call('HDEL', ttls, w)
end
local function drop_dead(now)
  for _, d in ipairs(redis.call('ZRANGEBYSCORE', alive, '-inf', now)) do forget(d) end
end
-- Give the free lock to the first live waiter: its token goes to its wake list.
local function hand_off(claim_ms)
  drop_dead(now_ms())
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  while head do
    local ttl = redis.call('HGET', ttls, head)
    forget(head)
    if ttl then
      redis.call('SET', lock, head, 'PX', ttl)
      redis.call('RPUSH', wake .. head, next_token())
      redis.call('PEXPIRE', wake .. head, ttl)
      redis.call('SET', handed, head, 'PX', claim_ms)
      return
    end
    head = redis.call('ZRANGE', queue, 0, 0)[1]
  end
end
"""

#: ARGV: owner, ttl ms, wait ('1' to queue), alive ms, claim ms.
#: Returns {1, token} when held, else {0, ms until the lock may change hands, rank in queue}.
ACQUIRE = (
    _NAMES
    + _NEXT_TOKEN
    + """
local owner, ttl = ARGV[1], ARGV[2]
if redis.call('EXISTS', queue) == 0 and redis.call('SET', lock, owner, 'PX', ttl, 'NX') then
  return {1, next_token()}  -- it was free, and nobody queued: the common case
end
local current = redis.call('GET', lock)
if current == owner then  -- handed to us, or held by this owner elsewhere: adopt
  redis.call('PEXPIRE', lock, ttl)
  redis.call('DEL', lock .. ':wake:' .. owner)
  return {1, tonumber(redis.call('GET', fence))}
end
"""
    + _HELPERS
    + """
local wait, alive_ms, claim_ms = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
drop_dead(now)
if current and redis.call('EXISTS', handed) == 0 and redis.call('EXISTS', wake .. current) == 1 then
  -- handed over, but its waiter never took it within the claim window: it died
  redis.call('DEL', lock, wake .. current)
  current = false
end
if not current then
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if (not head) or head == owner then
    if head then forget(owner) end
    redis.call('DEL', wake .. owner)
    redis.call('SET', lock, owner, 'PX', ttl)
    return {1, next_token()}
  end
  hand_off(claim_ms)  -- expired, or its taker died, with no release to pass it on
end
local rank = -1
if wait == '1' then
  if not redis.call('ZSCORE', queue, owner) then
    local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
    redis.call('ZADD', queue, (tonumber(last[2]) or 0) + 1, owner)
  end
  redis.call('ZADD', alive, now + alive_ms, owner)
  redis.call('HSET', ttls, owner, ttl)
  for _, k in ipairs({queue, alive, ttls}) do redis.call('PEXPIRE', k, alive_ms) end
  rank = redis.call('ZRANK', queue, owner)
end
local left = redis.call('PTTL', handed)
if left < 0 then left = redis.call('PTTL', lock) end
return {0, left, rank}
"""
)

#: ARGV: owner, claim ms. Returns 1 if released (also when this owner's release
#: already ran: a retry after a lost reply), 0 if the owner does not hold it.
RELEASE = (
    _NAMES
    + """
if redis.call('GET', lock) ~= ARGV[1] then
  if redis.call('GET', lock .. ':released') == ARGV[1] then return 1 end
  return 0
end
redis.call('RENAME', lock, lock .. ':released')  -- freed, and remembered for a retry
if redis.call('EXISTS', queue) == 0 then return 1 end
"""
    + _NEXT_TOKEN
    + _HELPERS
    + """
hand_off(tonumber(ARGV[2]))
return 1
"""
)

#: A waiter giving up (ARGV: owner, claim ms). The lock may have been handed to it: pass it on.
CANCEL = (
    _NAMES
    + _NEXT_TOKEN
    + _HELPERS
    + """
forget(ARGV[1])
redis.call('DEL', wake .. ARGV[1])
if redis.call('GET', lock) == ARGV[1] then
  redis.call('DEL', lock)
  if redis.call('EXISTS', queue) == 1 then hand_off(tonumber(ARGV[2])) end
end
return 1
"""
)

#: The fence holds the holder's token: it changes exactly when a holder is set.
HOLDER = """
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
return {owner, redis.call('GET', KEYS[1] .. ':fence')}
"""

#: ARGV: owner, ttl ms. Returns 1 if extended, 0 if the owner no longer holds it.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

#: ARGV: owner, new owner, ttl ms. If *owner* holds the lock, it passes to *new owner*
#: with a new token (returned); else nothing changes and it returns false.
TAKE_OVER = (
    _NAMES
    + _NEXT_TOKEN
    + """
if redis.call('GET', lock) ~= ARGV[1] then return false end
redis.call('SET', lock, ARGV[2], 'PX', ARGV[3])
return next_token()
"""
)
