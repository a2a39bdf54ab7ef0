"""The distributed lock: :class:`Lock` (and :class:`AsyncLock`) over pluggable backends.

Failure behaviour first: a lock whose server fails raises
:class:`~accord.core.errors.LockBackendError`; a lease lost while held is
reported through ``on_lost`` callbacks, :attr:`Lock.lost` and
:meth:`Lock.ensure_held` (:class:`~accord.core.errors.LockLost`); releasing a
lock that is not (or no longer) yours raises
:class:`~accord.core.errors.NotOwned` and leaves the current holder alone.

Backends by URL scheme (plugins add more through ``accord_lock_backend``):

============================  ===============================================
``redis://``, ``rediss://``,  one Redis server; lease = key expiry; FIFO queue
``unix://``                   with a wake-up list per waiter
``zookeeper://h:p[,h:p]/ch``  ZooKeeper ensemble; lease = session
``file:///dir``               processes of one host; lease = the open ticket file
``memory://[ns]``             threads of one process (tests)
============================  ===============================================

The backend contract is :class:`~accord.core.lock.base.LockBackend`; a backend
that can also act on a lease by owner from another process (what singleton
tasks need) implements :class:`~accord.core.lock.base.OwnerAwareBackend`.
"""

from accord.core.lock.aio import AsyncLock
from accord.core.lock.base import LockBackend, OwnerAwareBackend, get_backend
from accord.core.lock.lock import Lock
from accord.core.urls import moved_redact

__all__ = ["AsyncLock", "Lock", "LockBackend", "OwnerAwareBackend", "get_backend"]


def __getattr__(name: str) -> object:
    return moved_redact(__name__, name)
