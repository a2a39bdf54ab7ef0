"""The lock side of a singleton task: reservations, execution leases, release by owner.

Failure behaviour first: a lock server that fails raises
:class:`~accord.core.errors.LockBackendError` from the call that needed it
(``apply_async`` or the worker before the body runs; the body is then not
run). A lease lost while the body runs is not an exception in the body until
the body asks: :meth:`Lease.ensure_held` raises
:class:`~accord.core.errors.LockLost`, and the ``accord_lock_lost`` hook fires.
The run's lease is a :class:`~accord.core.lock.Lock` (adopted by the run), so
:meth:`Lease.release` raises :class:`~accord.core.errors.NotOwned` after a
loss as ``Lock.release`` does; the worker's own release at the end of a run
(:func:`end_run`) logs that instead, and the run's result stands. Releasing
from the worker's main process (revoke, hard time limit, a killed child) is
best effort: a failure is logged and the lease runs out by itself.

The lease is owned by a **run** (one delivery of a task in a pool process;
see :mod:`~accord.contrib.celery.owners`), not by the task id: the
reservation taken at ``apply_async`` is taken over by the run (a new, greater
fencing token), a retry takes over its run's lease the same way, and a second
delivery of a task id whose run is alive cannot adopt that run's lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any, cast

from accord.core.errors import ConfigurationError, LockError, NotOwned
from accord.core.lock import renewer
from accord.core.lock.base import LockBackend, OwnerAwareBackend, get_backend
from accord.core.lock.core import LockCore, LostCallback
from accord.core.lock.lock import Lock

__all__ = ["MAX_LEASE_REACHED", "Lease", "SingletonBackend", "backend_for", "end_run",
           "release_quietly"]  # fmt: skip

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


#: The reason a lease capped by ``max_lease`` is lost.
MAX_LEASE_REACHED = "max_lease reached"


class Lease(Lock):
    """The execution lease of one run of a singleton task: a :class:`~accord.core.lock.Lock`
    adopted by the run (its owner is the run's owner string, its token the
    fencing token the run took over).

    Failure behaviour first, as for any ``Lock``: :meth:`ensure_held` raises
    :class:`~accord.core.errors.LockLost` once the lease is lost (a renewal
    found another holder or none, the server failed until the lease ran out,
    or ``max_lease`` was reached) and never while it is held;
    :meth:`release` raises :class:`~accord.core.errors.NotOwned` when the
    lease was lost (or was released already), and changes nothing then.

    :attr:`token` is the fencing token: pass it with every write the task
    makes, and have the store refuse writes with a lower token than it has seen.

    The worker makes one with :meth:`adopt` when a run took its key; the
    body reaches it as ``self.singleton`` or
    :func:`~accord.contrib.celery.current_lease`.
    """

    _run_owner: str
    _cap: renewer.Job | None = None
    #: The reservation owner a retry sent by this run takes over (see hand_on).
    successor: str | None = None

    @classmethod
    def adopt(
        cls,
        name: str,
        url: str | None = None,
        *,
        owner: str,
        on_lost: LostCallback | Iterable[LostCallback] = (),
        max_lease: float | None = None,
        **adopt: Any,
    ) -> Lease:
        """:meth:`Lock.adopt <accord.core.lock.Lock.adopt>` (same arguments), and a cap.

        :param max_lease: seconds after ``since`` when the lease is released and
            counts as lost (reason ``"max_lease reached"``); None: no cap.
        """
        callbacks = [on_lost] if callable(on_lost) else list(on_lost)
        lease = super().adopt(name, url, owner=owner, on_lost=[_log_loss, *callbacks], **adopt)
        lease._run_owner = owner
        if max_lease is not None:
            ends = lease._acquired_at + max_lease
            lease._cap = renewer.schedule(
                ends - time.monotonic(), lambda: lease._cap_reached(owner)
            )
        return lease

    @property
    def owner(self) -> str:
        """The owner string of the run (``<task id>|run|<retries>|<nonce>``)."""
        return self._run_owner

    @property
    def released(self) -> bool:
        """True once released (by the body or at the end of the run) or handed on to a retry."""
        return self._owner is None

    def _cap_reached(self, owner: str) -> None:
        job = self._job
        if self._owner != owner or job is None:
            return  # released or handed on meanwhile
        job.lose(MAX_LEASE_REACHED)  # stops the renewals first: none can follow the release
        release_quietly(self.backend, self.name, owner)

    def _stop_cap(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.cancel()

    def release(self) -> None:
        """Free the lease; exactly :meth:`Lock.release <accord.core.lock.Lock.release>`.

        Raises :class:`~accord.core.errors.NotOwned` after the lease was lost
        (or when it was released or handed on already), and
        :class:`~accord.core.errors.LockBackendError` when the server fails
        (the lease then ends by itself after ``ttl``).
        """
        self._stop_cap()
        super().release()

    def hand_on(self, new_owner: str, seconds: float) -> int | None:
        """Stop renewing and pass the lease to *new_owner* for *seconds* (a retry is coming).

        One backend call (``take_over``): the next run gets a greater token,
        and a renewal of this run still in flight can no longer touch the
        lease (it is owned by someone else now), so it cannot shorten the
        retry's hold. Returns the new token, or None if the lease was lost
        or released (then the retry competes for the key like any other
        call). Afterwards this object holds nothing (:attr:`released`).
        """
        self._stop_cap()
        try:
            owner, lost = self._take_owner()
        except NotOwned:
            return None
        if lost is not None:
            return None
        try:
            backend = cast(OwnerAwareBackend, self.backend)
            return backend.take_over(self.name, owner, new_owner, seconds)
        except LockError as exc:
            logger.warning("handing singleton lease %r on to a retry failed: %s", self.name, exc)
            return None


def _log_loss(lease: LockCore, reason: str) -> None:
    owner = lease.owner if isinstance(lease, Lease) else "?"
    logger.warning("singleton lease %r of task %s lost: %s", lease.name, owner, reason)


def end_run(lease: Lease) -> None:
    """The worker's release of a run's lease when the run ends; never raises.

    A lease the body released (or handed on to a retry) is left alone. A
    lease found lost is not an error of the run: ``Lease.release`` has marked
    it lost and fired ``accord_lock_lost`` (if that was not known before);
    here the ``NotOwned`` is logged and the run's result stands. A server
    failure is logged: the lease ends by itself after ``ttl``.
    """
    if lease.released:
        return
    try:
        lease.release()
    except NotOwned as exc:
        logger.warning("singleton task run %s ended without its lease: %s", lease.owner, exc)
    except LockError as exc:
        logger.warning(
            "releasing singleton lock %r for %s failed (the lease ends by itself): %s",
            lease.name, lease.owner, exc,
        )  # fmt: skip
