"""``RingCache``: a Django cache backend that spreads keys over Redis nodes by a hash ring.

A thin layer over :class:`~accord.contrib.django.cache.client.RingCacheClient`
in the manner of Django's ``RedisCache``: it makes and validates keys
(prefix, version, key-function, memcached portability warnings) and turns
Django timeouts into Redis ones; the client does the rest.

Failure behaviour: a bad ``LOCATION`` or ``OPTIONS`` raises
``ImproperlyConfigured`` when the cache is first used (``caches[alias]``),
naming the alias; connections open lazily, so a node that is down raises
(or, under ``failover="miss"``/``"eject"``, misses) only when used.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.utils.functional import cached_property

from accord.contrib.django.cache.client import RingCacheClient
from accord.contrib.django.cache.config import CacheConfig, RingCacheConfigError, parse_config

__all__ = ["RingCache", "find_alias"]

# One client per alias and configuration, shared by the per-thread backends.
_shared: dict[tuple[object, ...], RingCacheClient] = {}
_shared_lock = threading.Lock()


def find_alias(location: object, params: Mapping[str, Any]) -> str:
    """The ``CACHES`` alias whose entry is *location* + *params* (Django does not pass it).

    Returns ``"?"`` when no entry matches (e.g. a cache built by hand). Never raises.
    """
    try:
        from django.conf import settings

        caches = settings.CACHES
    except Exception:  # settings not configured: only the message suffers
        return "?"
    for alias, entry in caches.items():
        rest = {k: v for k, v in entry.items() if k not in ("BACKEND", "LOCATION")}
        if entry.get("LOCATION", "") == location and rest == dict(params):
            return str(alias)
    return "?"


class RingCache(BaseCache):
    """Django cache backend over several Redis servers placed on a consistent hash ring.

    ``LOCATION`` lists the nodes; ``OPTIONS`` holds the ring, failover and
    connection options (see ``docs/cache.rst``). Every method has the
    semantics of Django's ``RedisCache``; the ``a*`` methods are native
    ``redis.asyncio`` coroutines.

    :raises django.core.exceptions.ImproperlyConfigured: on first use, if
        ``LOCATION`` or ``OPTIONS`` is invalid; the message names the alias and
        what is accepted. (Not when built: Django's own checks build every
        cache, and accord's checks must get to report the problem.)
    """

    def __init__(self, server: object, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._config_error: RingCacheConfigError | None = None
        try:
            self._config: CacheConfig = parse_config(
                find_alias(server, params), server, params.get("OPTIONS")
            )
        except RingCacheConfigError as exc:
            # Django's own cache checks build every backend before accord's
            # checks run; raising here would turn accord.E010-E014 into a
            # traceback of `manage.py check`. The first use raises instead.
            self._config_error = exc
        self._class = RingCacheClient
        self._location = server
        self._options = params.get("OPTIONS")

    @cached_property
    def _cache(self) -> RingCacheClient:
        if self._config_error is not None:
            raise self._config_error
        if self._config.alias == "?":  # built by hand: nothing to share with
            return self._class(self._config)
        # Django builds one backend per thread; they must share one failover
        # state, or a thread that never saw a node fail could read it stale.
        key = (self._config.alias, repr(self._location), repr(self._options), self._class)
        with _shared_lock:
            client = _shared.get(key)
            if client is None:
                client = _shared[key] = self._class(self._config)
        return client

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> int | None:
        """Seconds for Redis: ``None`` is forever, and a timeout <= 0 is 0 (delete)."""
        if timeout == DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return None if timeout is None else max(0, int(timeout))

    def _keys(self, keys: Iterable[Any], version: int | None) -> dict[str, Any]:
        return {self.make_and_validate_key(key, version=version): key for key in keys}

    # --------------------------------------------------------------- sync

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.add(key, value, self.get_backend_timeout(timeout))

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.get(key, default)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        self._cache.set(key, value, self.get_backend_timeout(timeout))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.touch(key, self.get_backend_timeout(timeout))

    def delete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.delete(key)

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        key_map = self._keys(keys, version)
        found = self._cache.get_many(key_map)
        return {key_map[k]: v for k, v in found.items()}

    def has_key(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.has_key(key)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        return self._cache.incr(key, delta)

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        """Store *data*; return the keys that could not be stored (their node failed)."""
        if not data:
            return []
        key_map = self._keys(data, version)
        safe = {full: data[key] for full, key in key_map.items()}
        failed = self._cache.set_many(safe, self.get_backend_timeout(timeout))
        return [key_map[k] for k in failed]

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        keys = list(keys)
        if keys:
            self._cache.delete_many(list(self._keys(keys, version)))

    def clear(self) -> bool:  # type: ignore[override]  # bool, as Django's RedisCache
        return self._cache.clear()

    def close(self, **kwargs: Any) -> None:
        self._cache.close()

    # -------------------------------------------------------------- async

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aadd(key, value, self.get_backend_timeout(timeout))

    async def aget(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aget(key, default)

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        await self._cache.aset(key, value, self.get_backend_timeout(timeout))

    async def atouch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.atouch(key, self.get_backend_timeout(timeout))

    async def adelete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.adelete(key)

    async def aget_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        key_map = self._keys(keys, version)
        found = await self._cache.aget_many(key_map)
        return {key_map[k]: v for k, v in found.items()}

    async def ahas_key(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.ahas_key(key)

    async def aincr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aincr(key, delta)

    async def aset_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        if not data:
            return []
        key_map = self._keys(data, version)
        safe = {full: data[key] for full, key in key_map.items()}
        failed = await self._cache.aset_many(safe, self.get_backend_timeout(timeout))
        return [key_map[k] for k in failed]

    async def adelete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        keys = list(keys)
        if keys:
            await self._cache.adelete_many(list(self._keys(keys, version)))

    async def aclear(self) -> bool:  # type: ignore[override]
        return await self._cache.aclear()

    async def aclose(self, **kwargs: Any) -> None:
        """Nothing to do per request; pools stay open (use ``_cache.aclose()`` to drop them)."""

    # ------------------------------------------------------------- extras

    def get_client(self, key: Any = None, *, write: bool = False, version: Any = None) -> Any:
        """The ``redis.Redis`` client of the node serving *key* (the first node if None)."""
        full = None if key is None else self.make_and_validate_key(key, version=version)
        return self._cache.get_client(full, write=write)

    def node_stats(self) -> dict[str, dict[str, object]]:
        """Per node: state (up/failing/out), errors, missed reads, dropped writes, ejections."""
        return {name: h.stats() for name, h in self._cache.router.health.items()}
