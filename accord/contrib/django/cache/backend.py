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
from accord.contrib.django.cache.config import CacheConfig, parse_config
from accord.contrib.django.cache.errors import RingCacheConfigError
from accord.contrib.django.cache.keys import glob_escape
from accord.contrib.django.cache.topology import Topology

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
                find_alias(server, params),
                server,
                params.get("OPTIONS"),
                key_prefix=self.key_prefix,
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
        key = (
            self._config.alias,
            repr(self._location),
            repr(self._options),
            self.key_prefix,
            self._class,
        )
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
        """Empty every node; with ``KEY_PREFIX``, delete only this cache's keys (by SCAN)."""
        return self._cache.clear()

    def get_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        """Django's ``get_or_set``; with ``stampede_lock`` set, one caller computes a miss."""
        guard = self._stampede
        if guard is None:
            return super().get_or_set(key, default, timeout=timeout, version=version)
        compute = default if callable(default) else (lambda: default)
        return guard.get_or_set(key, default, timeout, version, compute)

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

    async def aget_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        guard = self._stampede
        if guard is None:
            return await super().aget_or_set(key, default, timeout=timeout, version=version)
        compute = default if callable(default) else (lambda: default)
        return await guard.aget_or_set(key, default, timeout, version, compute)

    async def aclose(self, **kwargs: Any) -> None:
        """Nothing to do per request; pools stay open (use ``_cache.aclose()`` to drop them)."""

    # ------------------------------------------------------------- extras

    def get_client(self, key: Any = None, *, write: bool = False, version: Any = None) -> Any:
        """The redis-py client of the node serving *key* (the first node's if None)."""
        full = None if key is None else self.make_and_validate_key(key, version=version)
        return self._cache.get_client(full, write=write)

    def node_stats(self) -> dict[str, dict[str, object]]:
        """Per node: state (up/failing/out), errors, missed reads, dropped writes, ejections."""
        return {name: dict(stats) for name, stats in self.topology().health().items()}

    def topology(self) -> Topology:
        """A read-only view of the nodes and the ring (see :mod:`.topology`)."""
        return Topology(self._cache)

    @cached_property
    def _stampede(self) -> Any:
        if self._cache.config.options.stampede_lock is None:
            return None
        from accord.contrib.django.cache.stampede import StampedeGuard

        return StampedeGuard(self)

    # ------------------------------------------------ what django-redis users call

    def _pattern(self, search: str, version: Any) -> str:
        prefix = glob_escape(self.key_prefix)
        version_ = glob_escape(str(self.version if version is None else version))
        return str(self.key_func(search, prefix, version_))

    def _reverse(self, full: str) -> str:
        reverse = self._cache.config.options.reverse_key_function
        if reverse is not None:
            if isinstance(reverse, str):
                from django.utils.module_loading import import_string

                reverse = import_string(reverse)
            return str(reverse(full))
        return full.split(":", 2)[2] if full.count(":") >= 2 else full

    def iter_keys(self, search: str, itersize: int | None = None, version: Any = None) -> Any:
        """Keys matching the glob *search* (prefix and version added), on every node at once.

        Yields keys as given to ``set`` (the default key function reversed;
        ``OPTIONS["reverse_key_function"]`` for a custom one).
        """
        for full in self._cache.iter_keys(self._pattern(search, version), itersize):
            yield self._reverse(full)

    def keys(self, search: str, version: Any = None) -> list[str]:
        """All of :meth:`iter_keys` in a list."""
        return list(self.iter_keys(search, version=version))

    def delete_pattern(self, pattern: str, version: Any = None) -> int:
        """Delete the keys matching the glob *pattern* on every node, concurrently."""
        return self._cache.delete_pattern(self._pattern(pattern, version))

    def ttl(self, key: Any, version: Any = None) -> int | None:
        """Seconds *key* has left; None if it never expires; 0 if it does not exist."""
        return self._cache.ttl(self.make_and_validate_key(key, version=version))

    def expire(self, key: Any, timeout: Any, version: Any = None) -> bool:
        """Give *key* a new timeout (seconds); False if it does not exist."""
        full = self.make_and_validate_key(key, version=version)
        backend_timeout = self.get_backend_timeout(timeout)
        if backend_timeout is None:
            return self._cache.persist(full)
        return self._cache.expire(full, backend_timeout)

    def persist(self, key: Any, version: Any = None) -> bool:
        """Remove *key*'s timeout; False if it does not exist or had none."""
        return self._cache.persist(self.make_and_validate_key(key, version=version))

    async def aiter_keys(
        self, search: str, itersize: int | None = None, version: Any = None
    ) -> list[str]:
        """Async :meth:`iter_keys` (a list)."""
        keys = await self._cache.aiter_keys(self._pattern(search, version), itersize)
        return [self._reverse(k) for k in keys]

    async def adelete_pattern(self, pattern: str, version: Any = None) -> int:
        """Async :meth:`delete_pattern`."""
        return await self._cache.adelete_pattern(self._pattern(pattern, version))

    async def attl(self, key: Any, version: Any = None) -> int | None:
        """Async :meth:`ttl`."""
        return await self._cache.attl(self.make_and_validate_key(key, version=version))

    async def aexpire(self, key: Any, timeout: Any, version: Any = None) -> bool:
        """Async :meth:`expire`."""
        full = self.make_and_validate_key(key, version=version)
        backend_timeout = self.get_backend_timeout(timeout)
        if backend_timeout is None:
            return await self._cache.apersist(full)
        return await self._cache.aexpire(full, backend_timeout)

    async def apersist(self, key: Any, version: Any = None) -> bool:
        """Async :meth:`persist`."""
        return await self._cache.apersist(self.make_and_validate_key(key, version=version))
