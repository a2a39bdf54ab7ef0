"""``redis://``, ``rediss://`` and ``unix://``: locks on one Redis server.

Failure behaviour first:

* A server that is down, refuses or times out raises
  :class:`~accord.core.errors.LockBackendError` (the redis-py error chained,
  the URL without password in the message). Connecting gives up after
  ``connect_timeout`` seconds and any command after ``socket_timeout``.
* The lease is a key with a ``PX`` expiry: if the holder dies, the lock is
  free ``ttl`` seconds after its last renewal. A holder that outlives its
  lease without noticing is stopped by the fencing token, not by Redis.
* Tokens come from an ``INCR`` in the same script as the acquire, so they
  strictly increase, across clients and restarts of clients, for as long as
  the server keeps its data (a server restarted without persistence starts
  again at 1: enable AOF or RDB if tokens must survive it).
* One server is one point of failure; it is not Redlock.

Waiting is a queue, not polling. A waiter that finds the lock taken joins a
sorted set (arrival order) and blocks in ``BLPOP`` on a list of its own. The
releasing script hands the lock to the first live waiter (sets it as holder,
with the ttl it asked for, and pushes its new token to its list), so the
waiter holds the lock the moment ``BLPOP`` returns: a hand-over costs one
round trip, newcomers queue behind waiters instead of barging in, and
waiters are served first come, first served. Waiters refresh a liveness score
while they wait; one that died is dropped from the queue after
``waiter_lease`` seconds (a waiter that dies in the instant it is handed the
lock keeps it until its ``ttl``, as a dead holder would). Keys (a hash tag keeps them
on one cluster slot): ``accord:lock:{<name>}`` (the holder),
``...:queue``, ``...:alive``, ``...:ttls``, ``...:fence`` (the last token),
``...:wake:<owner>``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

from accord.core.errors import ConfigurationError, LockBackendError
from accord.core.hookspecs import hookimpl
from accord.core.lock.base import option, redact
from accord.core.optional import import_optional

__all__ = ["RedisBackend", "accord_lock_backend"]

# Shared by the scripts. Only KEYS[1] is passed; the other keys share its hash
# tag, hence its cluster slot.
_PRELUDE = """
local lock = KEYS[1]
local queue, alive, ttls = lock .. ':queue', lock .. ':alive', lock .. ':ttls'
local fence, wake = lock .. ':fence', lock .. ':wake:'
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
-- Give the free lock to the first live waiter; its token goes to its wake list.
local function hand_off(alive_ms)
  if redis.call('EXISTS', queue) == 0 then return end
  drop_dead(now_ms())
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  while head do
    local ttl = redis.call('HGET', ttls, head)
    forget(head)
    if ttl then
      redis.call('SET', lock, head, 'PX', ttl)
      redis.call('RPUSH', wake .. head, redis.call('INCR', fence))
      redis.call('PEXPIRE', wake .. head, alive_ms)
      return
    end
    head = redis.call('ZRANGE', queue, 0, 0)[1]
  end
end
"""

_ACQUIRE = (
    _PRELUDE
    + """
local owner, ttl, wait, alive_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local current = redis.call('GET', lock)
if current == owner then  -- the owner holds it already (another process of it): adopt
  redis.call('PEXPIRE', lock, ttl)
  return {1, tonumber(redis.call('GET', fence))}
end
if (not current) and redis.call('EXISTS', queue) == 0 then  -- free, nobody queued: common
  redis.call('SET', lock, owner, 'PX', ttl)
  return {1, redis.call('INCR', fence)}
end
local now = now_ms()
drop_dead(now)
if redis.call('EXISTS', lock) == 0 then
  local head = redis.call('ZRANGE', queue, 0, 0)[1]
  if (not head) or head == owner then
    if head then forget(owner) end
    redis.call('SET', lock, owner, 'PX', ttl)
    return {1, redis.call('INCR', fence)}
  end
  hand_off(alive_ms)  -- expired with no release to pass it on: pass it on now
end
if wait == '1' then
  if not redis.call('ZSCORE', queue, owner) then
    local last = redis.call('ZRANGE', queue, -1, -1, 'WITHSCORES')
    redis.call('ZADD', queue, (tonumber(last[2]) or 0) + 1, owner)
  end
  redis.call('ZADD', alive, now + alive_ms, owner)
  redis.call('HSET', ttls, owner, ttl)
  for _, k in ipairs({queue, alive, ttls}) do redis.call('PEXPIRE', k, alive_ms) end
end
return {0, redis.call('PTTL', lock)}
"""
)

_RELEASE = (
    _PRELUDE
    + """
if redis.call('GET', lock) ~= ARGV[1] then return 0 end
redis.call('DEL', lock)
hand_off(tonumber(ARGV[2]))
return 1
"""
)

# A waiter giving up. The lock may have been handed to it meanwhile: pass it on.
_CANCEL = (
    _PRELUDE
    + """
forget(ARGV[1])
redis.call('DEL', wake .. ARGV[1])
if redis.call('GET', lock) == ARGV[1] then
  redis.call('DEL', lock)
  hand_off(tonumber(ARGV[2]))
end
return 1
"""
)

# The fence holds the holder's token: it is incremented exactly when a holder is set.
_HOLDER = """
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
return {owner, redis.call('GET', KEYS[1] .. ':fence')}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_OPTIONS = {"socket_timeout", "connect_timeout", "waiter_lease"}


def holder_key(name: str) -> str:
    """The key that holds lock *name*'s owner; the others add a suffix to it."""
    return f"accord:lock:{{{name}}}"


class RedisBackend:
    """Locks on one Redis server; see the module docstring for the guarantees."""

    expires = True

    def __init__(
        self,
        url: str,
        *,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        waiter_lease: float = 2.0,
    ) -> None:
        redis = import_optional("redis", extra="redis", purpose="Redis locks")
        self.url = redact(url)
        self._raw_url = url
        self._socket_timeout = socket_timeout
        self._connect_timeout = connect_timeout
        self._alive_ms = max(int(waiter_lease * 1000), 100)
        # A waiter blocks at most half its liveness lease, so it refreshes in time.
        self._max_block = self._alive_ms / 2000
        self._error: type[Exception] = redis.RedisError
        self.client: Any = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout
        )
        self._acquire = self.client.register_script(_ACQUIRE)
        self._release = self.client.register_script(_RELEASE)
        self._cancel = self.client.register_script(_CANCEL)
        self._renew = self.client.register_script(_RENEW)
        self._holder = self.client.register_script(_HOLDER)
        self._aio: Any = None
        self._aio_lock = threading.Lock()

    def _fail(self, what: str, exc: Exception) -> LockBackendError:
        return LockBackendError(f"Redis at {self.url} failed to {what}: {exc}")

    def _wait_for(self, pttl: int, deadline: float | None) -> float | None:
        """Seconds to block in BLPOP, or None when the deadline has passed."""
        block = self._max_block
        if pttl > 0:  # an expiry frees the lock with no release to wake us
            block = min(block, pttl / 1000)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            block = min(block, left)
        return max(block, 0.001)  # BLPOP's 0 would mean for ever

    def acquire(self, name: str, owner: str, ttl: float, timeout: float | None) -> int | None:
        """Take *name* for *owner*, queueing behind earlier waiters; None on timeout.

        If *owner* holds it already, extend its lease and return its token.
        """
        k = [holder_key(name)]
        wake = k[0] + ":wake:" + owner
        deadline = None if timeout is None else time.monotonic() + timeout
        args = [owner, int(ttl * 1000), "0" if timeout == 0 else "1", self._alive_ms]
        queued = False
        try:
            while True:
                got, value = self._acquire(keys=k, args=args)
                if got:
                    return int(value)
                if timeout == 0:
                    return None
                queued = True
                block = self._wait_for(int(value), deadline)
                if block is None:
                    self._cancel(keys=k, args=[owner, self._alive_ms])
                    return None
                handed = self.client.blpop([wake], timeout=block)
                if handed is not None:  # the releaser handed the lock over to us
                    return int(handed[1])
        except BaseException as exc:  # incl. KeyboardInterrupt in BLPOP: leave the queue
            if queued:
                self._quietly_cancel(k, owner)
            if isinstance(exc, self._error):
                raise self._fail(f"acquire lock {name!r}", exc) from exc
            raise

    def _quietly_cancel(self, k: list[str], owner: str) -> None:
        # Best effort: a waiter left behind is dropped after waiter_lease anyway.
        with contextlib.suppress(self._error):
            self._cancel(keys=k, args=[owner, self._alive_ms])

    def release(self, name: str, owner: str) -> bool:
        """Delete the holder key if *owner* holds it and wake the first waiter."""
        try:
            return bool(self._release(keys=[holder_key(name)], args=[owner, self._alive_ms]))
        except self._error as exc:
            raise self._fail(f"release lock {name!r}", exc) from exc

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Reset the holder key's expiry to *ttl* if *owner* still holds it."""
        try:
            return bool(self._renew(keys=[holder_key(name)], args=[owner, int(ttl * 1000)]))
        except self._error as exc:
            raise self._fail(f"renew lock {name!r}", exc) from exc

    def holder(self, name: str) -> tuple[str, int] | None:
        """The owner in the holder key of *name* and its token, or None when free."""
        try:
            found = self._holder(keys=[holder_key(name)])
        except self._error as exc:
            raise self._fail(f"read lock {name!r}", exc) from exc
        if not found:
            return None
        owner = found[0].decode() if isinstance(found[0], bytes) else str(found[0])
        return owner, int(found[1])

    def is_locked(self, name: str) -> bool:
        """True when the holder key of *name* exists."""
        try:
            return bool(self.client.exists(holder_key(name)))
        except self._error as exc:
            raise self._fail(f"read lock {name!r}", exc) from exc

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    # -- asyncio (used by AsyncLock; renewal stays on the renewer thread) -------------

    def _aio_client(self) -> Any:
        with self._aio_lock:
            if self._aio is None:
                aioredis = import_optional("redis.asyncio", extra="redis", purpose="Redis locks")
                client = aioredis.Redis.from_url(
                    self._raw_url,
                    socket_timeout=self._socket_timeout,
                    socket_connect_timeout=self._connect_timeout,
                )
                scripts = [client.register_script(s) for s in (_ACQUIRE, _RELEASE, _CANCEL)]
                self._aio = (client, *scripts)
            return self._aio

    async def acquire_async(
        self, name: str, owner: str, ttl: float, timeout: float | None
    ) -> int | None:
        """:meth:`acquire` for asyncio: waiting blocks no thread."""
        client, acquire, _, cancel = self._aio_client()
        k = [holder_key(name)]
        wake = k[0] + ":wake:" + owner
        deadline = None if timeout is None else time.monotonic() + timeout
        args = [owner, int(ttl * 1000), "0" if timeout == 0 else "1", self._alive_ms]
        try:
            while True:
                got, value = await acquire(keys=k, args=args)
                if got:
                    return int(value)
                if timeout == 0:
                    return None
                block = self._wait_for(int(value), deadline)
                if block is None:
                    await cancel(keys=k, args=[owner, self._alive_ms])
                    return None
                handed = await client.blpop([wake], timeout=block)
                if handed is not None:
                    return int(handed[1])
        except BaseException as exc:
            if not isinstance(exc, self._error):
                self._quietly_cancel(k, owner)  # cancelled while queued: leave the queue
                raise
            raise self._fail(f"acquire lock {name!r}", exc) from exc

    async def release_async(self, name: str, owner: str) -> bool:
        """:meth:`release` for asyncio."""
        _, _, release, _ = self._aio_client()
        try:
            return bool(await release(keys=[holder_key(name)], args=[owner, self._alive_ms]))
        except self._error as exc:
            raise self._fail(f"release lock {name!r}", exc) from exc


@hookimpl
def accord_lock_backend(scheme: str, url: str, options: Mapping[str, Any]) -> RedisBackend | None:
    """Serve ``redis://``, ``rediss://`` and ``unix://`` URLs (redis-py's URL forms).

    Options: ``socket_timeout`` (s, default 5), ``connect_timeout`` (s,
    default 2), ``waiter_lease`` (s, default 2: how soon a dead waiter leaves the queue).
    """
    if scheme not in ("redis", "rediss", "unix"):
        return None
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigurationError(
            f"Redis locks do not take the options {sorted(unknown)}; "
            f"accepted: {', '.join(sorted(_OPTIONS))}."
        )
    settings = {
        name: option(options, name, float, default, positive=True)
        for name, default in (
            ("socket_timeout", 5.0),
            ("connect_timeout", 2.0),
            ("waiter_lease", 2.0),
        )
    }
    try:
        return RedisBackend(url, **settings)
    except ValueError as exc:  # redis-py's URL parser
        raise ConfigurationError(
            f"lock URL {redact(url)!r} is invalid: {exc}. Expected e.g. "
            "'redis://[:password@]host:6379/0', 'rediss://host:6380/0' or "
            "'unix:///path/to/redis.sock?db=0'."
        ) from exc
