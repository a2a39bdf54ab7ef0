"""The lock side of a singleton task: reservations, execution leases, release by owner.

Failure behaviour first: a lock server that fails raises
:class:`~accord.core.errors.LockBackendError` from the call that needed it
(``apply_async`` or the worker before the body runs; the body is then not
run). A lease lost while the body runs is not an exception in the body until
the body asks: :meth:`Lease.ensure_held` raises
:class:`~accord.core.errors.LockLost`, and the ``accord_lock_lost`` hook fires.
Releasing from the worker's main process (revoke, hard time limit, a killed
child) is best effort: a failure is logged and the lease runs out by itself.

The lease is owned by a **run** (one delivery of a task in a pool process;
see :mod:`~accord.contrib.celery.owners`), not by the task id: the
reservation taken at ``apply_async`` is taken over by the run (a new, greater
fencing token), a retry takes over its run's lease the same way, and a second
delivery of a task id whose run is alive cannot adopt that run's lease.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from accord.core.errors import ConfigurationError, LockError, LockLost
from accord.core.lock import renewer
from accord.core.lock.base import LockBackend, OwnerAwareBackend, get_backend
from accord.core.plugins import notify

__all__ = ["Lease", "SingletonBackend", "backend_for", "release_quietly"]

logger = logging.getLogger("accord.celery")

#: What singleton tasks need of a lock backend (Redis, ZooKeeper and memory provide it).
SingletonBackend = OwnerAwareBackend


def backend_for(url: str, options: dict[str, Any]) -> SingletonBackend:
    """The process's lock backend for *url* (made once per process).

    :raises ConfigurationError: the URL is invalid, or its backend cannot act
        on a lease by owner from another process (``file://``, or a plugin's
        backend without ``holder(name)``).
    """
    backend = get_backend(url, options)
    if not isinstance(backend, OwnerAwareBackend):
        raise ConfigurationError(
            f"the lock backend for {backend.url!r} ({type(backend).__name__}) cannot serve "
            "singleton tasks: they hand a lease from the caller to the worker and release "
            "it from the worker's main process, which needs a backend that implements "
            "accord.core.lock.base.OwnerAwareBackend (redis://, zookeeper://, memory://)."
        )
    return backend


def release_quietly(backend: LockBackend, name: str, owner: str) -> bool:
    """Release *name* if *owner* holds it; log (not raise) a server failure."""
    try:
        return backend.release(name, owner)
    except LockError as exc:
        logger.warning("releasing singleton lock %r for %s failed: %s", name, owner, exc)
        return False


class Lease:
    """The execution lease of one run of a singleton task.

    Failure behaviour first: :meth:`ensure_held` raises
    :class:`~accord.core.errors.LockLost` once the lease is lost (a renewal
    found another holder or none, the server failed until the lease ran out,
    or ``max_lease`` was reached); it never raises while the lease is held.

    :attr:`token` is the fencing token: pass it with every write the task
    makes, and have the store refuse writes with a lower token than it has seen.
    """

    def __init__(
        self,
        backend: SingletonBackend,
        name: str,
        owner: str,
        token: int,
        ttl: float,
        max_lease: float | None,
    ) -> None:
        self.backend = backend
        self.name = name
        self.owner = owner
        self.token = token
        self.ttl = ttl
        self._started = time.monotonic()
        self._ends = None if max_lease is None else self._started + max_lease
        self._lost: str | None = None
        self._job: renewer.Job | None = None
        self._state = threading.Lock()
        self._done = False  # released or handed on: a late renewal's loss is no news
        #: The reservation owner a retry sent by this run takes over (see hand_on).
        self.successor: str | None = None

    @property
    def lost(self) -> bool:
        """True once the lease was lost."""
        return self._lost is not None

    def ensure_held(self) -> None:
        """Raise :class:`~accord.core.errors.LockLost` if the lease was lost.

        Call it before each step of a long task, so that a run whose lease
        ran out stops before another copy's writes meet its own.
        """
        if self._lost is not None:
            raise LockLost(
                f"the singleton lease {self.name!r} of task {self.owner} (token {self.token}) "
                f"was lost: {self._lost}"
            )

    def start(self) -> None:
        """Renew the lease every ``ttl / 3`` seconds until :meth:`stop` or ``max_lease``."""
        self._job = renewer.keep_renewed(
            self.backend,
            self.name,
            self.owner,
            self.ttl,
            on_lost=self._mark_lost,
            until=self._ends,
            on_until=self._cap_reached,
        )

    def _cap_reached(self) -> None:
        release_quietly(self.backend, self.name, self.owner)
        self._mark_lost("max_lease reached")

    def _mark_lost(self, reason: str) -> None:
        with self._state:
            if self._lost is not None or self._done:
                return
            self._lost = reason
        logger.warning("singleton lease %r of task %s lost: %s", self.name, self.owner, reason)
        notify(
            "accord_lock_lost",
            name=self.name,
            url=self.backend.url,
            token=self.token,
            held=time.monotonic() - self._started,
            reason=reason,
        )

    def stop(self) -> None:
        """Stop renewing (the lease then runs out after its ttl unless released)."""
        if self._job is not None:
            self._job.cancel()

    def hand_on(self, new_owner: str, seconds: float) -> int | None:
        """Stop renewing and pass the lease to *new_owner* for *seconds* (a retry is coming).

        One backend call (``take_over``): the next run gets a greater token,
        and a renewal of this run still in flight can no longer touch the
        lease (it is owned by someone else now), so it cannot shorten the
        retry's hold. Returns the new token, or None if the lease was lost
        (then the retry competes for the key like any other call).
        """
        with self._state:
            self._done = True
        self.stop()
        if self._lost is not None:
            return None
        try:
            return self.backend.take_over(self.name, self.owner, new_owner, seconds)
        except LockError as exc:
            logger.warning("handing singleton lease %r on to a retry failed: %s", self.name, exc)
            return None

    def release(self) -> None:
        """Stop renewing and release the lease (a server failure is logged, not raised).

        Does nothing the second time, or after :meth:`hand_on`.
        """
        with self._state:
            done, self._done = self._done, True
        self.stop()
        if not done and self._lost is None:
            release_quietly(self.backend, self.name, self.owner)
