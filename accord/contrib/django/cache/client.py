"""The client behind RingCache: each operation is a planned call, run by one of two executors.

:class:`RingCacheClient` takes full keys (prefix and version applied) and
backend timeouts (seconds, ``None`` for "forever", 0 for "expire now"), as
Django's ``RedisCacheClient`` does. Every method builds its call once
(:mod:`~accord.contrib.django.cache.calls`); the sync methods hand it to
:class:`~.execute.SyncExecutor`, the ``a*`` methods to
:class:`~.aexecute.AsyncExecutor`. Nothing else differs between them.

Failure behaviour: see :mod:`~accord.contrib.django.cache.calls` (what a call
raises) and :mod:`~accord.contrib.django.cache.router` (what a failing node
does under each policy). Building a client opens no connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from accord.contrib.django.cache.aexecute import AsyncExecutor
from accord.contrib.django.cache.calls import Calls
from accord.contrib.django.cache.codec import Codec
from accord.contrib.django.cache.config import CacheConfig
from accord.contrib.django.cache.connect import AsyncNodes, SyncNodes
from accord.contrib.django.cache.execute import SyncExecutor
from accord.contrib.django.cache.keys import is_internal
from accord.contrib.django.cache.router import Router

__all__ = ["RingCacheClient"]


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

    # ------------------------------------------------------------ sync

    def get(self, key: str, default: Any) -> Any:
        """GET; *default* on a miss, including a failed node."""
        return self.sync.run(self._homes(key), lambda: self.calls.get(key, default))

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """SET (DEL when *timeout* is 0). A failed node drops the write."""
        self.sync.run(self._homes(key), lambda: self.calls.set(key, value, timeout))

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """SET NX; True if the key was absent. A failed node: False (nothing stored)."""
        return bool(self.sync.run(self._homes(key), lambda: self.calls.add(key, value, timeout)))

    def touch(self, key: str, timeout: float | None) -> bool:
        """PERSIST or EXPIRE; True if the key exists. A failed node: False."""
        return bool(self.sync.run(self._homes(key), lambda: self.calls.touch(key, timeout)))

    def delete(self, key: str) -> bool:
        """DEL; True if a key was deleted. A failed node: False (deleted before it serves)."""
        call = lambda: self.calls.simple(key, "DEL", write=True)  # noqa: E731
        return bool(self.sync.run(self._homes(key), call))

    def has_key(self, key: str) -> bool:
        """EXISTS. A failed node: False."""
        call = lambda: self.calls.simple(key, "EXISTS", write=False)  # noqa: E731
        return bool(self.sync.run(self._homes(key), call))

    def incr(self, key: str, delta: int) -> int:
        """Atomically add *delta* to an existing integer.

        :raises ValueError: the key does not exist (or its node failed, under
            ``miss``/``eject``).
        :raises redis.ResponseError: the value is not an integer.
        """
        return int(self.sync.run(self._homes(key), lambda: self.calls.incr(key, delta)))

    def ttl(self, key: str) -> int | None:
        """Seconds left; ``None`` if the key never expires; 0 if it does not exist (or failed)."""
        call = lambda: self.calls.simple(key, "TTL", write=False, missing=-2)  # noqa: E731
        return _ttl(self.sync.run(self._homes(key), call))

    def expire(self, key: str, timeout: int) -> bool:
        """EXPIRE; True if the key exists."""
        call = lambda: self.calls.simple(key, "EXPIRE", int(timeout), write=True)  # noqa: E731
        return bool(self.sync.run(self._homes(key), call))

    def persist(self, key: str) -> bool:
        """PERSIST; True if the key exists and had a timeout."""
        call = lambda: self.calls.simple(key, "PERSIST", write=True)  # noqa: E731
        return bool(self.sync.run(self._homes(key), call))

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """One MGET per node, all nodes at once. Keys of a failed node are missing."""
        keys = list(keys)
        return dict(self.sync.run(self._many_homes(keys), lambda: self.calls.get_many(keys)))

    def set_many(self, data: Mapping[str, Any], timeout: float | None) -> list[str]:
        """One pipeline per node, all nodes at once; return the keys not stored."""
        call = lambda: self.calls.set_many(data, timeout)  # noqa: E731
        return list(self.sync.run(self._many_homes(data), call))

    def delete_many(self, keys: Iterable[str]) -> int:
        """One DEL per node, all nodes at once; return how many keys were deleted."""
        keys = list(keys)
        return int(self.sync.run(self._many_homes(keys), lambda: self.calls.delete_many(keys)))

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
        return await self.aio.run(self._homes(key), lambda: self.calls.get(key, default))

    async def aset(self, key: str, value: Any, timeout: float | None) -> None:
        """Async :meth:`set`."""
        await self.aio.run(self._homes(key), lambda: self.calls.set(key, value, timeout))

    async def aadd(self, key: str, value: Any, timeout: float | None) -> bool:
        """Async :meth:`add`."""
        call = lambda: self.calls.add(key, value, timeout)  # noqa: E731
        return bool(await self.aio.run(self._homes(key), call))

    async def atouch(self, key: str, timeout: float | None) -> bool:
        """Async :meth:`touch`."""
        return bool(await self.aio.run(self._homes(key), lambda: self.calls.touch(key, timeout)))

    async def adelete(self, key: str) -> bool:
        """Async :meth:`delete`."""
        call = lambda: self.calls.simple(key, "DEL", write=True)  # noqa: E731
        return bool(await self.aio.run(self._homes(key), call))

    async def ahas_key(self, key: str) -> bool:
        """Async :meth:`has_key`."""
        call = lambda: self.calls.simple(key, "EXISTS", write=False)  # noqa: E731
        return bool(await self.aio.run(self._homes(key), call))

    async def aincr(self, key: str, delta: int) -> int:
        """Async :meth:`incr`; raises ``ValueError`` when the key is missing."""
        return int(await self.aio.run(self._homes(key), lambda: self.calls.incr(key, delta)))

    async def attl(self, key: str) -> int | None:
        """Async :meth:`ttl`."""
        call = lambda: self.calls.simple(key, "TTL", write=False, missing=-2)  # noqa: E731
        return _ttl(await self.aio.run(self._homes(key), call))

    async def aexpire(self, key: str, timeout: int) -> bool:
        """Async :meth:`expire`."""
        call = lambda: self.calls.simple(key, "EXPIRE", int(timeout), write=True)  # noqa: E731
        return bool(await self.aio.run(self._homes(key), call))

    async def apersist(self, key: str) -> bool:
        """Async :meth:`persist`."""
        call = lambda: self.calls.simple(key, "PERSIST", write=True)  # noqa: E731
        return bool(await self.aio.run(self._homes(key), call))

    async def aget_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Async :meth:`get_many`."""
        keys = list(keys)
        return dict(await self.aio.run(self._many_homes(keys), lambda: self.calls.get_many(keys)))

    async def aset_many(self, data: Mapping[str, Any], timeout: float | None) -> list[str]:
        """Async :meth:`set_many`."""
        call = lambda: self.calls.set_many(data, timeout)  # noqa: E731
        return list(await self.aio.run(self._many_homes(data), call))

    async def adelete_many(self, keys: Iterable[str]) -> int:
        """Async :meth:`delete_many`."""
        keys = list(keys)
        call = lambda: self.calls.delete_many(keys)  # noqa: E731
        return int(await self.aio.run(self._many_homes(keys), call))

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
