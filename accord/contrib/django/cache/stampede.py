"""``get_or_set`` that computes a missing value once, while the other callers wait.

With ``OPTIONS["stampede_lock"]`` set, a miss takes an accord
:class:`~accord.core.lock.Lock` named for the key: the holder looks again
(another holder may have filled it meanwhile), computes, stores and releases;
waiters are handed the lock in arrival order, find the value and return it
without computing. ``"node"`` puts the lock on the Redis node that owns the
key (plain Redis nodes only); a lock URL (``redis://``, ``zookeeper://``...)
puts it there.

Failure behaviour: it never makes ``get_or_set`` fail where Django's would not.
A waiter that waited ``stampede_wait`` seconds, or a lock server that fails
(:class:`~accord.core.errors.LockBackendError`, logged), computes the value
itself, as it would without the option. A holder that dies frees the lock
after ``stampede_ttl`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from accord.core.errors import ConfigurationError, LockError
from accord.core.lock import AsyncLock, Lock

__all__ = ["StampedeGuard"]

logger = logging.getLogger("accord.cache")
_MISSING = object()


class StampedeGuard:
    """Turns a cache's ``get``/``add`` into a stampede-safe ``get_or_set``."""

    def __init__(self, cache: Any) -> None:
        options = cache._cache.config.options
        self.cache = cache
        self.where = options.stampede_lock
        self.wait = options.stampede_wait
        self.ttl = options.stampede_ttl

    def _url(self, full_key: str) -> str:
        if self.where != "node":
            return str(self.where)
        client = self.cache._cache
        node = next(n for n in client.config.nodes if n.name == client.router.home(full_key))
        if node.kind != "redis":
            raise ConfigurationError(
                f"stampede_lock='node' needs plain redis:// nodes, but {node.name!r} is a "
                f"{node.kind}; give a lock URL instead (e.g. 'redis://locks:6379/0')"
            )
        return str(node.url)

    def _lock_name(self, full_key: str) -> str:
        return f"cache:{self.cache._cache.config.alias}:{full_key}"

    def get_or_set(
        self, key: Any, default: Any, timeout: Any, version: Any, compute: Callable[[], Any]
    ) -> Any:
        """Django's ``get_or_set`` with one computation per miss (see the module docstring)."""
        value = self.cache.get(key, _MISSING, version=version)
        if value is not _MISSING:
            return value
        full = self.cache.make_and_validate_key(key, version=version)
        lock = Lock(self._lock_name(full), self._url(full), ttl=self.ttl, renew=True)
        try:
            held = lock.acquire(timeout=self.wait)
        except LockError as exc:
            logger.warning("cache %s: stampede lock failed (%r); computing", self.where, exc)
            held = False
        try:
            if held:
                value = self.cache.get(key, _MISSING, version=version)
                if value is not _MISSING:
                    return value
            value = compute()
            if held:
                self.cache.set(key, value, timeout, version=version)
                return value
            # As Django does: add, then read back what won if another caller added first.
            self.cache.add(key, value, timeout, version=version)
            return self.cache.get(key, value, version=version)
        finally:
            if held:
                try:
                    lock.release()
                except LockError as exc:  # lost or server gone: the ttl frees it
                    logger.warning("cache: stampede lock release failed (%r)", exc)

    async def aget_or_set(
        self, key: Any, default: Any, timeout: Any, version: Any, compute: Callable[[], Any]
    ) -> Any:
        """Async :meth:`get_or_set` (an :class:`~accord.core.lock.AsyncLock`)."""
        value = await self.cache.aget(key, _MISSING, version=version)
        if value is not _MISSING:
            return value
        full = self.cache.make_and_validate_key(key, version=version)
        lock = AsyncLock(self._lock_name(full), self._url(full), ttl=self.ttl, renew=True)
        try:
            held = await lock.acquire(timeout=self.wait)
        except LockError as exc:
            logger.warning("cache %s: stampede lock failed (%r); computing", self.where, exc)
            held = False
        try:
            if held:
                value = await self.cache.aget(key, _MISSING, version=version)
                if value is not _MISSING:
                    return value
            value = compute()
            if held:
                await self.cache.aset(key, value, timeout, version=version)
                return value
            # As Django does: add, then read back what won if another caller added first.
            await self.cache.aadd(key, value, timeout, version=version)
            return await self.cache.aget(key, value, version=version)
        finally:
            if held:
                try:
                    await lock.release()
                except LockError as exc:
                    logger.warning("cache: stampede lock release failed (%r)", exc)
