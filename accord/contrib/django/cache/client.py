"""The client behind RingCache: each operation is a planned call, run by one of two executors.

:class:`RingCacheClient` takes full keys (prefix and version applied) and
backend timeouts (seconds, ``None`` for "forever", 0 for "expire now"), as
Django's ``RedisCacheClient`` does. Every method builds its call once
(:mod:`~accord.contrib.django.cache.calls`); the sync methods hand it to
:class:`~.execute.SyncExecutor`, the ``a*`` methods to
:class:`~.aio.AsyncExecutor`. Nothing else differs between them.

Failure behaviour: see :mod:`~accord.contrib.django.cache.calls` (what a call
raises) and :mod:`~accord.contrib.django.cache.router` (what a failing node
does under each policy). Building a client opens no connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from accord.contrib.django.cache.aio import AsyncExecutor
from accord.contrib.django.cache.calls import Calls
from accord.contrib.django.cache.codec import Codec
from accord.contrib.django.cache.config import CacheConfig
from accord.contrib.django.cache.connect import AsyncNodes, SyncNodes
from accord.contrib.django.cache.execute import SyncExecutor
from accord.contrib.django.cache.keys import is_internal
from accord.contrib.django.cache.plan import Call
from accord.contrib.django.cache.router import Router
from accord.core.plugins import emit, emit_to, observed, observers

__all__ = ["RingCacheClient"]

_OPERATION = "accord_cache_operation"
_MISSING = object()  # a get's default when hits are counted: told apart from any value


class RingCacheClient:
    """Talks to the ring's Redis nodes (or the Redis Cluster) for one cache alias."""

    def __init__(self, config: CacheConfig) -> None:
        options = config.options
        self.config = config
        self.source = f"cache:{config.alias}"
        self.router = Router(config, self.source)
        self.codec = Codec(
            options.serializer,
            options.compressor,
            min_length=options.compress_min_length,
            level=options.compress_level,
        )
        self.calls = Calls(self.router, self.codec)
        self.nodes = SyncNodes(config)
        self.anodes = AsyncNodes(config)
        self.sync = SyncExecutor(self.nodes, self.router)
        self.aio = AsyncExecutor(self.anodes, self.router)

    def get_client(self, key: str | None = None, *, write: bool = False) -> Any:
        """The redis-py client serving *key* (the first node's if None).

        A ``redis.Redis`` (for a Sentinel group, one that follows the master),
        or the ``RedisCluster``. *write* is accepted for the signature of
        Django's ``RedisCacheClient`` and does not matter.
        """
        if key is None:
            return self.nodes.client(self.router.names[0])
        route = self.router.route(key)
        return self.nodes.client(route.node or route.home)

    def _homes(self, key: str) -> tuple[str] | None:
        return None if self.router.all_ok else (self.router.home(key),)

    def _many_homes(self, keys: Iterable[str]) -> Iterable[str] | None:
        if self.router.all_ok:
            return None
        return {self.router.home(key) for key in keys}

    # ------------------------------------------------------------ observers

    def _tell(self, operation: str, node: str, start: float, hits: int, misses: int) -> None:
        duration = time.perf_counter() - start
        emit(_OPERATION, self.source, operation, node, duration, hits, misses)

    def _tell_many(
        self, operation: str, keys: Iterable[str], start: float, found: Mapping[str, Any] | None
    ) -> None:
        """Tell one event per node owning some of *keys* (*found*: a get_many's hits)."""
        duration = time.perf_counter() - start
        counts: dict[str, list[int]] = {}
        for key in keys:
            tally = counts.setdefault(self.router.home(key), [0, 0])
            if found is not None:
                tally[0 if key in found else 1] += 1
        for node, (hits, misses) in counts.items():
            emit(_OPERATION, self.source, operation, node, duration, hits, misses)

    def _one(self, operation: str, key: str, make: Callable[[], Call]) -> Any:
        """Run a one-key call; time it for the observers if there are any."""
        if not observed(_OPERATION):
            return self.sync.run(self._homes(key), make)
        start = time.perf_counter()
        home = self.router.home(key)
        try:
            return self.sync.run(None if self.router.all_ok else (home,), make)
        finally:
            self._tell(operation, home, start, 0, 0)

    async def _aone(self, operation: str, key: str, make: Callable[[], Call]) -> Any:
        """Async :meth:`_one`."""
        if not observed(_OPERATION):
            return await self.aio.run(self._homes(key), make)
        start = time.perf_counter()
        home = self.router.home(key)
        try:
            return await self.aio.run(None if self.router.all_ok else (home,), make)
        finally:
            self._tell(operation, home, start, 0, 0)

    # ------------------------------------------------------------ sync

    def get(self, key: str, default: Any) -> Any:
        """GET; *default* on a miss, including a failed node."""
        watchers = observers(_OPERATION)
        if not watchers:
            return self.sync.run(self._homes(key), lambda: self.calls.get(key, default))
        start = time.perf_counter()
        home = self.router.home(key)  # looked up once: the call is routed from it
        value = _MISSING
        try:
            homes = None if self.router.all_ok else (home,)
            value = self.sync.run(homes, lambda: self.calls.get(key, _MISSING, home))
        finally:
            duration = time.perf_counter() - start
            hit = int(value is not _MISSING)
            emit_to(watchers, _OPERATION, self.source, "get", home, duration, hit, 1 - hit)
        return default if value is _MISSING else value

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """SET (DEL when *timeout* is 0). A failed node drops the write."""
        self._one("set", key, lambda: self.calls.set(key, value, timeout))

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """SET NX; True if the key was absent. A failed node: False (nothing stored)."""
        return bool(self._one("add", key, lambda: self.calls.add(key, value, timeout)))

    def touch(self, key: str, timeout: float | None) -> bool:
        """PERSIST or EXPIRE; True if the key exists. A failed node: False."""
        return bool(self._one("touch", key, lambda: self.calls.touch(key, timeout)))

    def delete(self, key: str) -> bool:
        """DEL; True if a key was deleted. A failed node: False (deleted before it serves)."""
        call = lambda: self.calls.simple(key, "DEL", write=True)  # noqa: E731
        return bool(self._one("delete", key, call))

    def has_key(self, key: str) -> bool:
        """EXISTS. A failed node: False."""
        call = lambda: self.calls.simple(key, "EXISTS", write=False)  # noqa: E731
        return bool(self._one("has_key", key, call))

    def incr(self, key: str, delta: int) -> int:
        """Atomically add *delta* to an existing integer.

        :raises ValueError: the key does not exist (or its node failed, under
            ``miss``/``eject``).
        :raises redis.ResponseError: the value is not an integer.
        """
        return int(self._one("incr", key, lambda: self.calls.incr(key, delta)))

    def ttl(self, key: str) -> int | None:
        """Seconds left; ``None`` if the key never expires; 0 if it does not exist (or failed)."""
        call = lambda: self.calls.simple(key, "TTL", write=False, missing=-2)  # noqa: E731
        return _ttl(self._one("ttl", key, call))

    def expire(self, key: str, timeout: int) -> bool:
        """EXPIRE; True if the key exists."""
        call = lambda: self.calls.simple(key, "EXPIRE", int(timeout), write=True)  # noqa: E731
        return bool(self._one("expire", key, call))

    def persist(self, key: str) -> bool:
        """PERSIST; True if the key exists and had a timeout."""
        call = lambda: self.calls.simple(key, "PERSIST", write=True)  # noqa: E731
        return bool(self._one("persist", key, call))

    def _many(self, operation: str, keys: list[str], make: Callable[[], Call]) -> Any:
        """Run a call on several keys; time it (and count get_many's hits) for observers."""
        if not observed(_OPERATION):
            return self.sync.run(self._many_homes(keys), make)
        start = time.perf_counter()
        result: Any = None
        try:
            result = self.sync.run(self._many_homes(keys), make)
            return result
        finally:
            found = (result or {}) if operation == "get_many" else None
            self._tell_many(operation, keys, start, found)

    async def _amany(self, operation: str, keys: list[str], make: Callable[[], Call]) -> Any:
        """Async :meth:`_many`."""
        if not observed(_OPERATION):
            return await self.aio.run(self._many_homes(keys), make)
        start = time.perf_counter()
        result: Any = None
        try:
            result = await self.aio.run(self._many_homes(keys), make)
            return result
        finally:
            found = (result or {}) if operation == "get_many" else None
            self._tell_many(operation, keys, start, found)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """One MGET per node, all nodes at once. Keys of a failed node are missing."""
        keys = list(keys)
        return dict(self._many("get_many", keys, lambda: self.calls.get_many(keys)))

    def set_many(self, data: Mapping[str, Any], timeout: float | None) -> list[str]:
        """One pipeline per node, all nodes at once; return the keys not stored."""
        call = lambda: self.calls.set_many(data, timeout)  # noqa: E731
        return list(self._many("set_many", list(data), call))

    def delete_many(self, keys: Iterable[str]) -> int:
        """One DEL per node, all nodes at once; return how many keys were deleted."""
        keys = list(keys)
        return int(self._many("delete_many", keys, lambda: self.calls.delete_many(keys)))

    def iter_keys(self, match: str, count: int | None = None) -> Iterator[str]:
        """Keys matching the glob *match* on every node (scanned together), as strings."""
        for batch in self.sync.scan(match, count):
            for key in batch:
                if not is_internal(key):
                    yield key.decode() if isinstance(key, bytes) else key

    def delete_pattern(self, match: str) -> int:
        """Delete the keys matching *match* on every node, concurrently; return how many."""
        return sum(self.sync.scan_delete(match))

    def clear(self) -> bool:
        """Empty every node at once (only KEY_PREFIX's keys if set). A failed node: later."""
        failed = False
        for name, reply in self.sync.wipe(dict.fromkeys(self.router.names)).items():
            if isinstance(reply, BaseException):
                failed = True
                if self.config.failover == "raise":
                    raise reply
                self.router.mark_wipe_needed(name)
        return not failed

    def close(self) -> None:
        """Keep the pools open across requests, as Django's RedisCache does. Never raises."""

    # ------------------------------------------------------------ async

    async def aget(self, key: str, default: Any) -> Any:
        """Async :meth:`get`."""
        if not observed(_OPERATION):
            return await self.aio.run(self._homes(key), lambda: self.calls.get(key, default))
        start = time.perf_counter()
        home = self.router.home(key)
        value = _MISSING
        try:
            homes = None if self.router.all_ok else (home,)
            value = await self.aio.run(homes, lambda: self.calls.get(key, _MISSING, home))
        finally:
            hit = value is not _MISSING
            duration = time.perf_counter() - start
            emit(_OPERATION, self.source, "get", home, duration, int(hit), int(not hit))
        return default if value is _MISSING else value

    async def aset(self, key: str, value: Any, timeout: float | None) -> None:
        """Async :meth:`set`."""
        await self._aone("set", key, lambda: self.calls.set(key, value, timeout))

    async def aadd(self, key: str, value: Any, timeout: float | None) -> bool:
        """Async :meth:`add`."""
        call = lambda: self.calls.add(key, value, timeout)  # noqa: E731
        return bool(await self._aone("add", key, call))

    async def atouch(self, key: str, timeout: float | None) -> bool:
        """Async :meth:`touch`."""
        return bool(await self._aone("touch", key, lambda: self.calls.touch(key, timeout)))

    async def adelete(self, key: str) -> bool:
        """Async :meth:`delete`."""
        call = lambda: self.calls.simple(key, "DEL", write=True)  # noqa: E731
        return bool(await self._aone("delete", key, call))

    async def ahas_key(self, key: str) -> bool:
        """Async :meth:`has_key`."""
        call = lambda: self.calls.simple(key, "EXISTS", write=False)  # noqa: E731
        return bool(await self._aone("has_key", key, call))

    async def aincr(self, key: str, delta: int) -> int:
        """Async :meth:`incr`; raises ``ValueError`` when the key is missing."""
        return int(await self._aone("incr", key, lambda: self.calls.incr(key, delta)))

    async def attl(self, key: str) -> int | None:
        """Async :meth:`ttl`."""
        call = lambda: self.calls.simple(key, "TTL", write=False, missing=-2)  # noqa: E731
        return _ttl(await self._aone("ttl", key, call))

    async def aexpire(self, key: str, timeout: int) -> bool:
        """Async :meth:`expire`."""
        call = lambda: self.calls.simple(key, "EXPIRE", int(timeout), write=True)  # noqa: E731
        return bool(await self._aone("expire", key, call))

    async def apersist(self, key: str) -> bool:
        """Async :meth:`persist`."""
        call = lambda: self.calls.simple(key, "PERSIST", write=True)  # noqa: E731
        return bool(await self._aone("persist", key, call))

    async def aget_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Async :meth:`get_many`."""
        keys = list(keys)
        return dict(await self._amany("get_many", keys, lambda: self.calls.get_many(keys)))

    async def aset_many(self, data: Mapping[str, Any], timeout: float | None) -> list[str]:
        """Async :meth:`set_many`."""
        call = lambda: self.calls.set_many(data, timeout)  # noqa: E731
        return list(await self._amany("set_many", list(data), call))

    async def adelete_many(self, keys: Iterable[str]) -> int:
        """Async :meth:`delete_many`."""
        keys = list(keys)
        call = lambda: self.calls.delete_many(keys)  # noqa: E731
        return int(await self._amany("delete_many", keys, call))

    async def aiter_keys(self, match: str, count: int | None = None) -> list[str]:
        """Async :meth:`iter_keys` (returns a list)."""
        keys = await self.aio.scan(match, count)
        return [k.decode() if isinstance(k, bytes) else k for k in keys if not is_internal(k)]

    async def adelete_pattern(self, match: str) -> int:
        """Async :meth:`delete_pattern`."""
        return sum([count async for count in self.aio.scan_delete(match)])

    async def aclear(self) -> bool:
        """Async :meth:`clear`."""
        failed = False
        for name, reply in (await self.aio.wipe(dict.fromkeys(self.router.names))).items():
            if isinstance(reply, BaseException):
                failed = True
                if self.config.failover == "raise":
                    raise reply
                self.router.mark_wipe_needed(name)
        return not failed

    async def aclose(self) -> None:
        """Disconnect the current event loop's connections (they reopen on next use)."""
        await self.aio.aclose()


def _ttl(reply: Any) -> int | None:
    seconds = int(reply)
    if seconds == -1:
        return None
    return max(seconds, 0)
