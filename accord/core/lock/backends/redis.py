"""``redis://``, ``rediss://`` and ``unix://``: locks on one Redis server.

Failure behaviour first:

* A server that is down, refuses or times out raises
  :class:`~accord.core.errors.LockBackendError` (the redis-py error chained,
  the URL without password in the message). Connecting gives up after
  ``connect_timeout`` seconds and any command after ``socket_timeout``. A
  command whose connection broke is sent once more on a fresh connection
  (every script is safe to repeat: a repeated acquire adopts its own lease,
  a repeated release reports success); a timeout is never repeated.
* The lease is a key with a ``PX`` expiry: if the holder dies, the lock is
  free ``ttl`` seconds after its last renewal. A holder that outlives its
  lease without noticing is stopped by the fencing token, not by Redis.
* Tokens come from the same script as the acquire: one more than the last,
  and never below the server's clock in microseconds. So they keep rising
  across clients, across a restart that lost the counter (no persistence,
  an RDB snapshot behind, a kill -9), and across a failover to a replica
  that missed the last writes, unless the new server's clock is behind the
  old one's by more than the time since the last token.
* One server is one point of failure; it is not Redlock. What a restart or
  a failover does to a lock **held** at the time is in the lock guide: the
  lock can be granted twice, and only fencing then protects the resource.
* A failed acquire holds nothing: what its script may have done is undone
  on the way out (or ends with the ``ttl``, if the server is unreachable).
* With ``min_replicas=N`` an acquire is granted, and a renewal confirmed,
  only once ``N`` replicas acknowledged it (``WAIT N``, at most
  ``replica_timeout`` seconds). Otherwise the acquire is undone and raises
  ``LockBackendError``, and the renewal counts as failed (retried while
  the lease runs, then lost). A replica promoted after such an
  acknowledgement has the lock. Without it (the default, 0), a failover
  can lose a lock taken just before and grant it to a second holder.

Waiting is a queue, not polling. A waiter that finds the lock taken joins a
sorted set (arrival order) and blocks in ``BLPOP`` on a list of its own. The
releasing script hands the lock to the first live waiter (sets it as holder,
with the ttl it asked for, and pushes its new token to its list), so the
waiter holds the lock the moment ``BLPOP`` returns: a hand-over costs one
round trip (two when ``BLPOP`` answered more than ``ttl / 3`` after it was
sent: the lease is then confirmed with a renewal, because a waiter paused
while its answer waited may see a lease that already ran out), newcomers
queue behind waiters instead of barging in, and waiters are served first
come, first served. Waiters refresh a liveness score
at least every ``waiter_lease / 2`` seconds (and within ``socket_timeout``);
one that died is dropped from the queue after ``waiter_lease``. One that dies
in the instant it is handed the lock never takes it: the next waiters take
it back once ``waiter_lease / 8`` seconds passed (0.25 s by default; see
:mod:`~accord.core.lock.backends.redis_scripts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from accord.core.errors import ConfigurationError, LockBackendError
from accord.core.hookspecs import hookimpl
from accord.core.lock import renewer
from accord.core.lock.backends import redis_scripts as lua
from accord.core.lock.backends.redis_scripts import holder_key
from accord.core.lock.base import option
from accord.core.optional import import_optional
from accord.core.urls import redact, scrub
from accord.core.validate import number

__all__ = ["RedisBackend", "accord_lock_backend", "backend_settings", "holder_key"]

_OPTIONS = {"socket_timeout", "connect_timeout", "waiter_lease", "min_replicas", "replica_timeout"}
_SCRIPTS = {
    "acquire": lua.ACQUIRE,
    "release": lua.RELEASE,
    "cancel": lua.CANCEL,
    "renew": lua.RENEW,
    "holder": lua.HOLDER,
    "take_over": lua.TAKE_OVER,
}


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
        min_replicas: int = 0,
        replica_timeout: float = 1.0,
    ) -> None:
        redis = import_optional("redis", extra="redis", purpose="Redis locks")
        self.min_replicas = min_replicas
        self.replica_timeout = replica_timeout
        self.url = redact(url)
        self._raw_url = url
        self._socket_timeout = socket_timeout
        self._connect_timeout = connect_timeout
        self._alive_ms = max(int(waiter_lease * 1000), 100)
        self._claim_ms = max(self._alive_ms // 8, 20)
        # A waiter blocks at most half its liveness lease, so it refreshes in
        # time, and well within the socket timeout, which would cut BLPOP short.
        self._max_block = min(self._alive_ms / 2000, socket_timeout / 2)
        self._waiting = (b"%d" % self._alive_ms, b"%d" % self._claim_ms)  # encoded once
        self._releasing = (b"%d" % self._claim_ms,)
        self._error: type[Exception] = redis.RedisError
        self._timeout: type[Exception] = redis.TimeoutError
        self.client: Any = self._connect(redis)
        self.scripts: dict[str, Any] = {
            name: self.client.register_script(text) for name, text in _SCRIPTS.items()
        }
        self._per_thread = threading.local()
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, ...]] = (
            weakref.WeakKeyDictionary()
        )

    def _connect(self, redis: Any) -> Any:
        """A client of *redis* (``redis`` or ``redis.asyncio``) for this backend's server."""
        return redis.Redis.from_url(self._raw_url, **self._client_options(redis))

    def _client_options(self, redis: Any) -> dict[str, Any]:
        from redis.backoff import NoBackoff

        retry = import_optional(
            "redis.asyncio.retry" if redis.__name__ == "redis.asyncio" else "redis.retry",
            extra="redis",
            purpose="Redis locks",
        ).Retry
        return {
            "socket_timeout": self._socket_timeout,
            "socket_connect_timeout": self._connect_timeout,
            # Once more on a broken connection (a server restart leaves stale
            # pooled ones); never on a timeout, which would double the wait.
            "retry": retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            "retry_on_error": [],
        }

    @property
    def sha(self) -> dict[str, str]:
        """The SHA1 of each script by name (``acquire``, ``release``, ...), e.g. to aim a fault."""
        return {name: script.sha for name, script in self.scripts.items()}

    def _fail(self, what: str, exc: Exception) -> LockBackendError:
        return LockBackendError(f"Redis at {self.url} failed to {what}: {exc}")

    def _args(self, owner: str, ttl: float, timeout: float | None) -> list[Any]:
        return [owner, int(ttl * 1000), b"0" if timeout == 0 else b"1", *self._waiting]

    def _block(self, left_ms: int, rank: int, deadline: float | None) -> float | None:
        """Seconds to block in BLPOP, or None when the deadline has passed."""
        block = self._max_block
        if left_ms > 0:  # an expiry (or a claim window) ends with no release to wake us
            block = min(block, left_ms / 1000)
        if 0 <= rank <= 1:  # next in line: look again before a dead taker's claim runs out
            block = min(block, self._claim_ms / 2000)
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
        deadline = None if timeout is None else time.monotonic() + timeout
        args = self._args(owner, ttl, timeout)
        acquire = self.scripts["acquire"]
        try:
            while True:
                found = acquire(keys=k, args=args)
                if found[0]:
                    return self._replicated(name, owner, ttl, int(found[1]))
                if timeout == 0:
                    return None
                block = self._block(int(found[1]), int(found[2]), deadline)
                if block is None:
                    self.scripts["cancel"](keys=k, args=[owner, self._claim_ms])
                    return None
                sent = time.monotonic()
                handed = self.client.blpop([f"{k[0]}:wake:{owner}"], timeout=block)
                if handed is not None:  # the releaser handed the lock over to us
                    if self._stale_hand_over(sent, ttl) and not self.renew(name, owner, ttl):
                        continue  # its lease ran out before we saw it: queue again
                    return self._replicated(name, owner, ttl, int(handed[1]))
        except BaseException as exc:  # incl. KeyboardInterrupt in BLPOP: hold nothing
            with contextlib.suppress(self._error):
                self.scripts["cancel"](keys=k, args=[owner, self._claim_ms])
            if isinstance(exc, self._error):
                raise self._fail(f"acquire lock {name!r}", exc) from exc
            raise

    def acquire_later(self, name: str, owner: str, ttl: float) -> Callable[[], int | None]:
        """Send a try-once :meth:`acquire` of *name* now; the function returned reads its answer.

        The caller overlaps the round trip with work of its own (a singleton
        task builds its Celery message meanwhile) and must call the function
        exactly once: it returns the token, or None if the lock is held, and
        raises :class:`~accord.core.errors.LockBackendError` as
        :meth:`acquire` does. One ``EVALSHA`` on the thread's own connection
        (see :meth:`_connection_of_thread`); an answer lost
        with its connection (or a script the server lost in a restart) is
        asked again with :meth:`acquire`, which adopts a lease this owner got.
        """
        sha, key = self.scripts["acquire"].sha, holder_key(name)
        command: tuple[Any, ...] = ("EVALSHA", sha, 1, key, owner, int(ttl * 1000), b"0")
        connection = self._connection_of_thread()
        for again in (False, True):  # once more on a fresh connection, as the client does
            try:
                connection.send_command(*command, *self._waiting)
                break
            except self._timeout as exc:
                self._undo_later(connection, name, owner)
                raise self._fail(f"acquire lock {name!r}", exc) from exc
            except self._error as exc:
                connection.disconnect()
                if again:
                    self._done_with(connection)
                    raise self._fail(f"acquire lock {name!r}", exc) from exc
            except BaseException:
                self._undo_later(connection, name, owner)
                raise
        return functools.partial(self._acquired_later, connection, name, owner, ttl)

    def _connection_of_thread(self) -> Any:
        """This thread's own connection for :meth:`acquire_later` (one per process, too).

        Outside the pool: taking one from the pool and giving it back costs
        about as much as the command. It connects on first use, and again
        after an error disconnected it.
        """
        mine = self._per_thread
        connection = getattr(mine, "connection", None)
        if connection is None or mine.pid != os.getpid():  # a forked child makes its own
            connection = self.client.connection_pool.make_connection()
            mine.connection, mine.pid, mine.busy = connection, os.getpid(), False
        if mine.busy:  # an answer is still to be read on it (a call made meanwhile): another
            return self.client.connection_pool.make_connection()
        mine.busy = True
        return connection

    def _done_with(self, connection: Any) -> None:
        mine = self._per_thread
        if connection is getattr(mine, "connection", None):
            mine.busy = False
        else:
            connection.disconnect()

    def _acquired_later(self, connection: Any, name: str, owner: str, ttl: float) -> int | None:
        try:
            found = connection.read_response()
        except self._timeout as exc:  # never repeated (see the module docstring): undo, raise
            self._undo_later(connection, name, owner)
            raise self._fail(f"acquire lock {name!r}", exc) from exc
        except self._error:  # lost answer, or NOSCRIPT: ask again (an acquire adopts its own)
            connection.disconnect()
            found = None
        except BaseException:  # interrupted: the lock may be ours, with nobody to know
            self._undo_later(connection, name, owner)
            raise
        self._done_with(connection)
        if found is None:
            return self.acquire(name, owner, ttl, 0)
        if not found[0]:
            return None
        return self._replicated(name, owner, ttl, int(found[1]))

    def _undo_later(self, connection: Any, name: str, owner: str) -> None:
        connection.disconnect()
        self._done_with(connection)
        with contextlib.suppress(self._error):
            self.scripts["cancel"](keys=[holder_key(name)], args=[owner, self._claim_ms])

    @staticmethod
    def _stale_hand_over(sent: float, ttl: float) -> bool:
        """Whether a hand-over may be older than the holder assumes a new lease is.

        The lease of a handed-over lock starts when the releaser hands it, at
        some time after BLPOP was sent. A holder counts its lease from at most
        one renewal interval ago (see :class:`~accord.core.lock.Lock`); a
        BLPOP answered later than that (a long wait, or this process paused
        while the answer waited in its socket) is confirmed with a renewal
        first: a lease that ran out meanwhile may be someone else's by now.
        """
        return time.monotonic() - sent > ttl * renewer.RENEW_FRACTION

    def _renew_and_wait(self, name: str, owner: str, ttl: float) -> tuple[bool, int]:
        """Renew, then ``WAIT`` on the same connection: (still held, replicas that have it).

        The renewal is a write after every earlier write to the lock (the
        acquire, a hand-over), so a replica that acknowledged it has them all.
        """
        pipe = self.client.pipeline(transaction=False)
        self.scripts["renew"](keys=[holder_key(name)], args=[owner, int(ttl * 1000)], client=pipe)
        pipe.execute_command("WAIT", self.min_replicas, int(self.replica_timeout * 1000))
        renewed, acks = pipe.execute()
        return bool(renewed), int(acks)

    def _unacknowledged(self, what: str, name: str, acks: int) -> LockBackendError:
        return LockBackendError(
            f"Redis at {self.url}: the {what} of lock {name!r} was acknowledged by {acks} "
            f"replica(s) within {self.replica_timeout} s, and min_replicas={self.min_replicas} "
            "asks for more; a failover could lose it"
        )

    def _replicated(self, name: str, owner: str, ttl: float, token: int) -> int:
        """*token* once ``min_replicas`` replicas have the lock; else undo it and raise."""
        if not self.min_replicas:
            return token
        renewed, acks = self._renew_and_wait(name, owner, ttl)
        if renewed and acks >= self.min_replicas:
            return token
        with contextlib.suppress(self._error):
            self.release(name, owner)
        if not renewed:
            raise LockBackendError(
                f"Redis at {self.url}: lock {name!r} was lost before a replica acknowledged it"
            )
        raise self._unacknowledged("acquire", name, acks)

    def release(self, name: str, owner: str) -> bool:
        """Delete the holder key if *owner* holds it and hand the lock to the first waiter."""
        try:
            return bool(
                self.scripts["release"](keys=[holder_key(name)], args=[owner, *self._releasing])
            )
        except self._error as exc:
            raise self._fail(f"release lock {name!r}", exc) from exc

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Reset the holder key's expiry to *ttl* if *owner* still holds it.

        With ``min_replicas``, raises LockBackendError unless that many replicas
        acknowledged the renewal.
        """
        try:
            if self.min_replicas:
                renewed, acks = self._renew_and_wait(name, owner, ttl)
                if renewed and acks < self.min_replicas:
                    raise self._unacknowledged("renewal", name, acks)
                return renewed
            return bool(
                self.scripts["renew"](keys=[holder_key(name)], args=[owner, int(ttl * 1000)])
            )
        except self._error as exc:
            raise self._fail(f"renew lock {name!r}", exc) from exc

    def take_over(self, name: str, owner: str, new_owner: str, ttl: float) -> int | None:
        """Pass *owner*'s lease to *new_owner* for *ttl* seconds, with a new token.

        One script: None (and nothing changed) if *owner* does not hold *name*.
        """
        try:
            found = self.scripts["take_over"](
                keys=[holder_key(name)], args=[owner, new_owner, int(ttl * 1000)]
            )
        except self._error as exc:
            raise self._fail(f"take over lock {name!r}", exc) from exc
        return None if found is None else int(found)

    def holder(self, name: str) -> tuple[str, int] | None:
        """The owner in the holder key of *name* and its token, or None when free."""
        try:
            found = self.scripts["holder"](keys=[holder_key(name)])
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
        """Close the connection pools (this thread's, and every event loop's still open)."""
        self.client.close()
        self._by_loop.clear()
        connection = getattr(self._per_thread, "connection", None)
        if connection is not None:
            connection.disconnect()

    # -- asyncio (used by AsyncLock; renewal stays on the renewer threads) -------------

    def _aio(self) -> tuple[Any, ...]:
        """The running loop's client and scripts: asyncio connections belong to one loop."""
        loop = asyncio.get_running_loop()
        found = self._by_loop.get(loop)
        if found is None:
            aioredis = import_optional("redis.asyncio", extra="redis", purpose="Redis locks")
            client = self._connect(aioredis)
            scripts = {name: client.register_script(text) for name, text in _SCRIPTS.items()}
            found = self._by_loop[loop] = (client, scripts)
        return found

    async def acquire_async(
        self, name: str, owner: str, ttl: float, timeout: float | None
    ) -> int | None:
        """:meth:`acquire` for asyncio: waiting blocks no thread."""
        client, scripts = self._aio()
        k = [holder_key(name)]
        wake = f"{k[0]}:wake:{owner}"
        deadline = None if timeout is None else time.monotonic() + timeout
        args = self._args(owner, ttl, timeout)
        try:
            while True:
                found = await scripts["acquire"](keys=k, args=args)
                if found[0]:
                    return await self._replicated_async(name, owner, ttl, int(found[1]))
                if timeout == 0:
                    return None
                block = self._block(int(found[1]), int(found[2]), deadline)
                if block is None:
                    await scripts["cancel"](keys=k, args=[owner, self._claim_ms])
                    return None
                sent = time.monotonic()
                handed = await client.blpop([wake], timeout=block)
                if handed is not None:
                    if self._stale_hand_over(sent, ttl) and not await scripts["renew"](
                        keys=k, args=[owner, int(ttl * 1000)]
                    ):
                        continue  # its lease ran out before we saw it: queue again
                    return await self._replicated_async(name, owner, ttl, int(handed[1]))
        except BaseException as exc:  # cancelled, or a Redis error: leave the queue, hold nothing
            with contextlib.suppress(self._error, asyncio.TimeoutError):
                await asyncio.wait_for(
                    scripts["cancel"](keys=k, args=[owner, self._claim_ms]),
                    self._socket_timeout,
                )
            if isinstance(exc, self._error):
                raise self._fail(f"acquire lock {name!r}", exc) from exc
            raise

    async def _replicated_async(self, name: str, owner: str, ttl: float, token: int) -> int:
        if not self.min_replicas:
            return token
        return await asyncio.to_thread(self._replicated, name, owner, ttl, token)

    async def release_async(self, name: str, owner: str) -> bool:
        """:meth:`release` for asyncio."""
        _, scripts = self._aio()
        try:
            return bool(
                await scripts["release"](keys=[holder_key(name)], args=[owner, *self._releasing])
            )
        except self._error as exc:
            raise self._fail(f"release lock {name!r}", exc) from exc

    async def is_locked_async(self, name: str) -> bool:
        """:meth:`is_locked` for asyncio."""
        client, _ = self._aio()
        try:
            return bool(await client.exists(holder_key(name)))
        except self._error as exc:
            raise self._fail(f"read lock {name!r}", exc) from exc


def _check_database(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.path or "@" in parts.fragment:
        # A password with an unescaped "/" or "#": redis-py would take the rest for the
        # socket path or the database, and its errors would show that piece.
        raise ConfigurationError(
            f"lock URL {redact(url)!r} has an '@' after its host: a password holding "
            "'/', '#', '?' or '@' must be URL-encoded (e.g. '/' as %2F), as in "
            "'redis://:p%2Fss@host:6379/0'."
        )
    found = [
        *([parts.path.strip("/")] if parts.scheme in ("redis", "rediss") and parts.path else []),
        *urllib.parse.parse_qs(parts.query).get("db", []),
    ]
    for db in found:
        if db and not db.isdigit():
            # A password with an unescaped "/" or "@" ends up in the "database": scrub it.
            raise ConfigurationError(
                scrub(
                    f"lock URL {redact(url)!r} names the database {db!r}: expected a number "
                    "(0-15 on a default server), as in 'redis://host:6379/0' or "
                    "'unix:///path/to/redis.sock?db=0'.",
                    url,
                )
            )


def backend_settings(options: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The keyword arguments of :class:`RedisBackend` from lock *options*, checked.

    ConfigurationError names a bad or unknown option (*kind*: ``Redis``,
    ``Redis Sentinel``) and what is accepted.
    """
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigurationError(
            f"{kind} locks do not take the options {sorted(unknown)}; "
            f"accepted: {', '.join(sorted(_OPTIONS))}."
        )
    settings: dict[str, Any] = {
        name: option(options, name, float, default, positive=True)
        for name, default in (
            ("socket_timeout", 5.0),
            ("connect_timeout", 2.0),
            ("waiter_lease", 2.0),
            ("replica_timeout", 1.0),
        )
    }
    replicas = int(
        number(
            options.get("min_replicas", 0),
            "lock backend option min_replicas",
            integer=True,
            convert=True,
            minimum=0,
            expected="a whole number >= 0 of replicas that must acknowledge each acquire "
            "and renewal (0: do not wait for replicas)",
        )
    )
    settings["min_replicas"] = replicas
    if replicas and settings["replica_timeout"] >= settings["socket_timeout"]:
        raise ConfigurationError(
            f"lock backend option replica_timeout={settings['replica_timeout']!r} is invalid: "
            f"it must be below socket_timeout={settings['socket_timeout']!r}, which would "
            "otherwise cut the replicas' acknowledgement short."
        )
    return settings


@hookimpl
def accord_lock_backend(scheme: str, url: str, options: Mapping[str, Any]) -> RedisBackend | None:
    """Serve ``redis://``, ``rediss://`` and ``unix://`` URLs (redis-py's URL forms).

    Options: ``socket_timeout`` (s, default 5), ``connect_timeout`` (s,
    default 2), ``waiter_lease`` (s, default 2: a waiter that died leaves the
    queue after it; one that died as the lock was handed to it costs the
    others an eighth of it), ``min_replicas`` (default 0: how many replicas
    must acknowledge each acquire and renewal, with ``WAIT``) and
    ``replica_timeout`` (s, default 1: how long to wait for them; below
    ``socket_timeout``). Waiters look at the queue at least every half
    ``waiter_lease`` and half ``socket_timeout``, so no choice of the two
    makes a wait fail.
    """
    if scheme not in ("redis", "rediss", "unix"):
        return None
    settings = backend_settings(options, "Redis")
    _check_database(url)
    try:
        return RedisBackend(url, **settings)
    except ValueError as exc:  # redis-py's URL parser; its message may quote the URL
        problem = scrub(str(exc), url)
    # Raised outside the except block: the parser's own error (the context) may hold a password.
    raise ConfigurationError(
        f"lock URL {redact(url)!r} is invalid: {problem}. Expected e.g. "
        "'redis://[:password@]host:6379/0', 'rediss://host:6380/0' or "
        "'unix:///path/to/redis.sock?db=0'."
    ) from ValueError(problem)
