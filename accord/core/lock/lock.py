"""The distributed lock users hold: :class:`Lock`."""

from __future__ import annotations

import time
from types import TracebackType

from accord.core.errors import LockBackendError, NotOwned
from accord.core.lock.core import MAX_TTL, MIN_TTL, LockCore, validate_timeout, validate_ttl

__all__ = ["MAX_TTL", "MIN_TTL", "Lock", "LockCore", "validate_timeout", "validate_ttl"]


class Lock(LockCore):
    """A named lock shared by every process that uses the same backend URL.

    Failure behaviour first:

    * ``acquire(timeout=...)`` returns False when the time runs out (the
      ``with`` statement raises :class:`~accord.core.errors.LockTimeout`
      instead); it never waits past the timeout.
    * A server that is down or fails raises
      :class:`~accord.core.errors.LockBackendError` (the cause chained).
    * :meth:`release` by a holder that is not (or no longer) the owner raises
      :class:`~accord.core.errors.NotOwned` and changes nothing: it never
      frees a lock another holder now owns.
    * The lease can be **lost** while the holder runs (it expired, a renewal
      failed or went unanswered for ``ttl``, someone deleted it, the
      ZooKeeper connection was suspended or its session expired): then
      :attr:`lost` becomes true and :meth:`ensure_held` raises
      :class:`~accord.core.errors.LockLost` at once; observers of
      ``accord_lock_lost`` and the ``on_lost`` callbacks run soon after, on
      accord's notifier thread. A loss is noticed within one renewal
      interval (``ttl / 3``) of the lease ending. Leaving a ``with`` block
      after a loss raises ``LockLost`` too, unless the block raised.
    * A failed or cancelled acquire holds nothing: what it may have taken is
      released, or ends by itself within ``ttl`` (ZooKeeper: the session).
    * Not reentrant: calling :meth:`acquire` on a ``Lock`` that holds the
      lock raises :class:`~accord.core.errors.LockError`. Two ``Lock``
      objects with the same name exclude each other, also in one thread. A
      ``Lock`` object stands for one holder: give each thread its own
      (sharing the name, not the object).
    * Bad arguments raise :class:`~accord.core.errors.ConfigurationError`.

    :param name: the lock's name, a non-empty string; equal names on the same
        backend are the same lock.
    :param url: the backend's URL (``redis://``, ``rediss://``, ``unix://``,
        ``zookeeper://``, ``file://``, ``memory://`` or a plugin's scheme).
    :param backend: a backend object instead of a URL.
    :param ttl: the lease in seconds, from 0.01 to 1e9 (finite): if the holder
        dies, others may take the lock after this long (ZooKeeper: after the
        session timeout; file: at once, when the process dies).
    :param renew: keep extending the lease every ``ttl / 3`` seconds while
        held. With False the lease expires ``ttl`` after acquiring.
    :param timeout: how long ``with lock:`` waits (None: for ever).
    :param on_lost: callables ``f(lock, reason)`` run when the lease is lost.
    :param options: the backend's options, one mapping (e.g.
        ``{"session_timeout": 20}``), used when the backend is made from
        *url*; each backend documents its own. Options passed as keywords
        still work and warn (``DeprecationWarning``).

    The attribute ``url`` is the backend's URL with every password replaced by
    ``***`` (:func:`accord.core.urls.redact`): what ``repr``, errors and hooks show.

    **Fencing.** Each successful acquire sets :attr:`token` to an integer
    greater than any token issued before for this name on this backend
    (what each backend guarantees, and when, is in the lock guide). Pass it
    with every write to the protected resource, and have the resource refuse
    a write whose token is **not greater** than the last token it accepted
    from another holder: a holder that lost its lease without noticing (a
    long GC pause) can then do no harm.
    """

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; return True when held, False when *timeout* ran out.

        ``blocking=False`` tries once (as ``timeout=0``). Waiting wakes as
        soon as the holder releases, and waiters are served roughly first come,
        first served. Raises :class:`~accord.core.errors.LockError` when this
        object holds the lock already (not reentrant),
        :class:`~accord.core.errors.LockBackendError` when the server fails,
        :class:`~accord.core.errors.ConfigurationError` for a negative timeout.
        """
        owner, timeout = self._prepare(blocking, timeout)
        started = time.monotonic()
        try:
            token = self.backend.acquire(self.name, owner, self.ttl, timeout)
        except BaseException:
            self._release_later(owner)  # it may have taken the lock before it failed
            raise
        return self._acquired(owner, token, started)

    def release(self) -> None:
        """Free the lock and wake the next waiter.

        Raises :class:`~accord.core.errors.NotOwned` if this object does not
        hold it, or held it but lost it (another holder may own it now: it is
        left alone). :class:`~accord.core.errors.LockBackendError` if the
        server fails; the lease then ends by itself after ``ttl``.
        """
        owner, lost = self._take_owner()
        try:
            ok = self.backend.release(self.name, owner)
        except LockBackendError:
            self._release_later(owner, 0.1)  # a lease that does not expire must still end
            raise
        self._released(owner, ok, lost)

    def locked(self) -> bool:
        """True when anyone (this object or another holder) holds the lock now.

        Raises :class:`~accord.core.errors.LockBackendError` if the server fails.
        """
        return self.backend.is_locked(self.name)

    def __enter__(self) -> Lock:
        if not self.acquire(timeout=self.timeout):
            raise self._timed_out()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except (NotOwned, LockBackendError) as error:
            raised = self._exit_error(error, exc)
            if raised is not None:
                raise raised from error
