"""What :class:`~accord.core.lock.Lock` and :class:`~accord.core.lock.AsyncLock` share.

The state of one holder, the checks of its arguments, the steps of acquire
and release that do no I/O, and the lease upkeep; the two classes only call
the backend, one blocking, one awaiting. Failure behaviour is documented on
:class:`~accord.core.lock.Lock`.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from accord.core.errors import (
    ConfigurationError,
    LockError,
    LockLost,
    LockTimeout,
    NotOwned,
)
from accord.core.lock import renewer
from accord.core.lock.base import LockBackend, backend_options, get_backend
from accord.core.plugins import emit, get_plugin_manager, notify
from accord.core.urls import redact
from accord.core.validate import number, number_or_none

__all__ = ["MAX_TTL", "MIN_TTL", "LockCore", "validate_timeout", "validate_ttl"]

logger = logging.getLogger("accord.lock")

#: The holder renews its lease every ``ttl * RENEW_FRACTION`` seconds.
RENEW_FRACTION = renewer.RENEW_FRACTION
#: The shortest lease accepted, in seconds (Redis counts milliseconds; renewals come every ttl/3).
MIN_TTL = 0.01
#: The longest lease accepted, in seconds (about 31 years): a finite number every server can keep.
MAX_TTL = 1e9
# Seconds between background attempts to free a lease that does not expire (ZooKeeper, file).
_RELEASE_RETRIES = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

LostCallback = Callable[["LockCore", str], object]
_Holder = TypeVar("_Holder", bound="LockCore")


_owner_prefix = ""
_owner_count = itertools.count()


def _new_prefix() -> None:
    global _owner_prefix
    _owner_prefix = f"{os.getpid()}:{os.urandom(12).hex()}"


_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)  # a forked child: a new random prefix


def _new_owner() -> str:
    """A string no other acquisition, in any process on any host, will use."""
    return f"{_owner_prefix}:{next(_owner_count)}"


def validate_ttl(ttl: object, what: str = "ttl") -> float:
    """Return *ttl* as a float; ConfigurationError unless a number of seconds in range.

    Accepted: ``MIN_TTL <= ttl <= MAX_TTL`` (0.01 s to about 31 years). An
    infinite lease is refused: use a large number (on ``file://`` and
    ZooKeeper the lease ends with the holder's process or session anyway;
    there ``ttl`` only sets how often the holder checks it).
    """
    hint = ""
    if isinstance(ttl, float) and math.isinf(ttl):
        hint = (
            "An infinite lease cannot be renewed or expired: use a large finite number "
            "(on file:// and ZooKeeper the lease ends with the holder's process or session)."
        )
    return number(
        ttl,
        what,
        minimum=MIN_TTL,
        maximum=MAX_TTL,
        expected=f"the lease in seconds, a finite number > 0, from {MIN_TTL} to {MAX_TTL:.0e}",
        hint=hint,
    )


def validate_timeout(timeout: float | None, what: str = "timeout") -> float | None:
    """Return *timeout* as a float (or None); ConfigurationError if negative or not a number."""
    return number_or_none(
        timeout,
        what,
        minimum=0,
        infinite=True,
        optional=True,
        expected="seconds >= 0 (0 tries once), or None to wait for ever",
    )


class LockCore:
    """What :class:`Lock` and :class:`~accord.core.lock.AsyncLock` share: state, checks, upkeep.

    Not used directly; its arguments are documented on :class:`Lock`.
    """

    def __init__(
        self,
        name: str,
        url: str | None = None,
        *,
        backend: LockBackend | None = None,
        ttl: float = 30.0,
        renew: bool = True,
        timeout: float | None = None,
        on_lost: LostCallback | Iterable[LostCallback] = (),
        options: Mapping[str, Any] | None = None,
        **keywords: Any,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"lock name {name!r} is invalid: expected a non-empty string.")
        ttl = validate_ttl(ttl)
        if (url is None) == (backend is None):
            raise ConfigurationError(
                "Lock needs exactly one of url= (e.g. 'redis://localhost:6379/0') or backend=; "
                f"got url={redact(url) if url is not None else None!r}, backend={backend!r}."
            )
        options = backend_options(options, keywords, type(self).__name__)
        if backend is not None and options:
            raise ConfigurationError(
                f"backend options {sorted(options)} only apply with url=, not backend=."
            )
        self.name = name
        self.ttl = ttl
        self.renew = bool(renew)
        self.timeout = validate_timeout(timeout)
        # Plugins are loaded now, not after a lock is taken: a broken plugin
        # setup must fail before anything is held (get_backend loads them too).
        get_plugin_manager()
        self.backend: LockBackend = backend if backend is not None else get_backend(url, options)  # type: ignore[arg-type]
        # What repr, errors and hooks show; a plugin backend's url may hold a password.
        self.url = redact(self.backend.url)
        self._on_lost: list[LostCallback] = [on_lost] if callable(on_lost) else list(on_lost)
        self._state = threading.Lock()
        self._owner: str | None = None
        self._token: int | None = None
        self._acquired_at = 0.0
        self._lost_reason: str | None = None
        self._job: renewer.Upkeep | None = None
        self._watch = getattr(self.backend, "watch_lease", None)

    @classmethod
    def adopt(
        cls: type[_Holder],
        name: str,
        url: str | None = None,
        *,
        backend: LockBackend | None = None,
        owner: str,
        token: int,
        ttl: float = 30.0,
        renew: bool = True,
        on_lost: LostCallback | Iterable[LostCallback] = (),
        since: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> _Holder:
        """A lock object that holds an acquisition made elsewhere, by *owner*, with *token*.

        Failure behaviour first: the holding is not checked here (no server
        call): if *owner* does not hold *name*, the first renewal finds it
        gone and the lock is lost (:meth:`ensure_held` raises
        :class:`~accord.core.errors.LockLost`, ``on_lost`` runs) and
        :meth:`release` raises :class:`~accord.core.errors.NotOwned`. Bad
        arguments raise :class:`~accord.core.errors.ConfigurationError`.

        From then on it is a lock like one that acquired: it renews the lease
        every ``ttl / 3`` seconds, reports its loss, and :meth:`release` frees
        it only while *owner* still holds it (raising ``NotOwned`` otherwise).
        No ``accord_lock_acquired`` is emitted (nothing was waited for here);
        release and loss emit their hooks as for any lock.

        It serves an acquisition whose owner string the caller chose: the
        Celery worker adopts the lease its run took over from a reservation.
        Acting on it from another process than the one that took it needs a
        backend that implements :class:`~accord.core.lock.base.OwnerAwareBackend`.

        :param owner: the owner string the acquisition was made with.
        :param token: its fencing token (what the acquire or take-over returned).
        :param since: the ``time.monotonic()`` time the lease was (re)granted,
            i.e. when the call that took it was sent (default: now); renewals
            and the loss by expiry count from it.
        The other arguments, ``options`` included, are those of the constructor.
        """
        if not isinstance(owner, str) or not owner:
            raise ConfigurationError(
                f"owner={owner!r} is invalid: expected the non-empty owner string the "
                "acquisition was made with."
            )
        if isinstance(token, bool) or not isinstance(token, int):
            raise ConfigurationError(
                f"token={token!r} is invalid: expected the integer fencing token of the "
                "acquisition."
            )
        lock = cls(
            name, url, backend=backend, ttl=ttl, renew=renew, on_lost=on_lost, options=options
        )
        now = time.monotonic()
        started = now if since is None else min(since, now)
        with lock._state:
            lock._owner, lock._token, lock._acquired_at = owner, token, started
        lock._start_upkeep(owner, started)
        return lock

    # -- state -------------------------------------------------------------------

    @property
    def token(self) -> int:
        """The fencing token of the current (or last) acquisition.

        Raises :class:`~accord.core.errors.LockError` if never acquired.
        """
        if self._token is None:
            raise LockError(f"lock {self.name!r} has not been acquired, so it has no token yet.")
        return self._token

    def _why_lost(self) -> str | None:
        """The reason the current acquisition was lost, or None (asks the upkeep's clock)."""
        if self._lost_reason is not None:
            return self._lost_reason
        job = self._job
        return job.lost if job is not None and self._owner is not None else None

    def _doubt(self) -> str | None:
        """Why the current lease is in doubt (ZooKeeper SUSPENDED, ``suspended="wait"``)."""
        job = self._job
        return job.doubt if job is not None and self._owner is not None else None

    @property
    def held(self) -> bool:
        """True while this object holds the lock, has not lost it, and it is not in doubt."""
        return self._owner is not None and self._why_lost() is None and self._doubt() is None

    @property
    def lost(self) -> bool:
        """True when the lease of the current acquisition was lost (see the class doc)."""
        return self._why_lost() is not None

    def ensure_held(self) -> None:
        """Raise :class:`~accord.core.errors.LockLost` unless this object still holds the lock.

        Call it before each step of a long critical section. It raises as soon
        as the loss is known, before ``on_lost`` callbacks run, and also when
        no renewal was confirmed for ``ttl`` seconds (a server that does not
        answer, or this process paused): the lease may have ended then.
        Raises :class:`~accord.core.errors.NotOwned` if the lock was never
        acquired or was released.
        """
        reason = self._why_lost()
        if reason is not None:
            raise LockLost(f"lock {self.name!r} (token {self._token}) was lost: {reason}")
        if self._owner is None:
            raise NotOwned(f"lock {self.name!r} is not held by this Lock object.")
        doubt = self._doubt()
        if doubt is not None:
            raise LockLost(
                f"lock {self.name!r} (token {self._token}) is in doubt: {doubt}. Do not act "
                "on it now; it is held again if the connection comes back before the lease ends."
            )

    def on_lost(self, callback: LostCallback) -> LostCallback:
        """Add ``callback(lock, reason)`` to run when the lease is lost; returns it (a decorator).

        Callbacks run on accord's notifier thread, one after another, never on
        the renewal path; one that raises is logged and the others still run.
        """
        self._on_lost.append(callback)
        return callback

    def __repr__(self) -> str:
        state = (
            "lost"
            if self.lost
            else "held"
            if self.held
            else "in doubt"
            if self._doubt() is not None
            else "free"
        )
        return f"<Lock {self.name!r} on {self.url} {state} token={self._token}>"

    # -- the steps of acquire and release, shared with AsyncLock ---------------------------

    def _prepare(self, blocking: bool, timeout: float | None) -> tuple[str, float | None]:
        timeout = validate_timeout(timeout)
        if not blocking:
            if timeout not in (None, 0.0):
                raise ConfigurationError(
                    f"timeout={timeout!r} cannot be combined with blocking=False."
                )
            timeout = 0.0
        if self._owner is not None:
            raise LockError(
                f"lock {self.name!r} is already held by this Lock object; locks are not "
                "reentrant. Release it first, or use another Lock object to wait for it."
            )
        return _new_owner(), timeout

    def _acquired(self, owner: str, token: int | None, started: float) -> bool:
        now = time.monotonic()
        if token is None:
            emit("accord_lock_not_acquired", self.name, self.url, now - started)
            return False
        with self._state:
            self._owner, self._token, self._acquired_at = owner, token, now
            self._lost_reason = None
        try:
            # The lease began between the call and its answer. A long wait
            # counts from one renewal interval ago: the first renewal then
            # comes at once and confirms it.
            self._start_upkeep(owner, max(started, now - self.ttl * RENEW_FRACTION))
            emit("accord_lock_acquired", self.name, self.url, token, now - started)
        except BaseException:
            self._abandon(owner)  # a failed acquire holds nothing
            raise
        return True

    def _abandon(self, owner: str) -> None:
        """Give up an acquisition the caller will never know of. Never raises."""
        with self._state:
            job = self._job
            if self._owner == owner:
                self._owner, self._job = None, None
        if job is not None:
            job.cancel()
        try:
            self.backend.release(self.name, owner)
        except Exception:
            self._release_later(owner)

    def _release_later(self, owner: str, delay: float = 0.0) -> None:
        """Release *owner*'s lease in the background, retrying a while on a lease that
        does not end by itself. For an acquire that failed (it may have taken the lock
        before failing), a release that failed, a lease lost. Never raises."""
        retries = iter(() if self.backend.expires else _RELEASE_RETRIES)

        def attempt() -> float | None:
            try:
                self.backend.release(self.name, owner)
            except Exception as error:
                again = next(retries, None)
                if again is None:  # a lease that expires ends by itself: no news
                    logger.log(
                        logging.DEBUG if self.backend.expires else logging.WARNING,
                        "freeing lock %r in the background failed (its lease ends by itself, "
                        "or with the session or process): %s",
                        self.name,
                        renewer.describe(error),
                    )
                return again
            return None

        renewer.schedule(delay, attempt)

    def _take_owner(self) -> tuple[str, str | None]:
        """The owner to release, and why its lease was lost (None if it was not)."""
        lost = self._why_lost()
        with self._state:
            owner, job = self._owner, self._job
            self._owner, self._job = None, None
        if owner is None:
            raise NotOwned(f"lock {self.name!r} is not held by this Lock object; nothing released.")
        if job is not None:
            job.cancel()
        return owner, lost

    def _released(self, owner: str, ok: bool, lost: str | None) -> None:
        held = time.monotonic() - self._acquired_at
        if not ok:
            reason = lost or "expired or taken by another holder"
            self._mark_lost(owner, reason)
            raise NotOwned(
                f"lock {self.name!r} (token {self._token}) was no longer held when released "
                f"({reason}); the current holder was left alone."
            )
        if lost is not None:
            raise NotOwned(f"lock {self.name!r} was lost ({lost}) before release.")
        emit("accord_lock_released", self.name, self.url, self._token, held)

    def _timed_out(self) -> LockTimeout:
        return LockTimeout(
            f"lock {self.name!r} on {self.url} was not free within {self.timeout} s (timeout=)."
        )

    def _exit_error(self, error: Exception, exc: BaseException | None) -> Exception | None:
        """What leaving a ``with`` block raises when release raised *error*."""
        if exc is not None:
            logger.warning("releasing lock %r failed while the block raised: %s", self.name, error)
            return None
        return LockLost(str(error)) if isinstance(error, NotOwned) else error

    # -- lease upkeep (renewals on renewer workers, notices on the notifier thread) -----

    def _start_upkeep(self, owner: str, since: float) -> None:
        job = renewer.keep_renewed(
            self.backend,
            self.name,
            owner,
            self.ttl,
            on_lost=lambda reason: self._mark_lost(owner, reason, release=True),
            still_held=lambda: self._owner == owner,
            renew=self.renew or not self.backend.expires,
            since=since,
        )
        with self._state:
            if self._owner == owner:
                self._job = job
        if self._job is not job:
            job.cancel()
            return
        if self._watch is None:
            return
        # The server tells of a loss between renewals (ZooKeeper), and maybe of doubt.
        if getattr(self.backend, "reports_doubt", False):
            self._watch(self.name, owner, job.lose, in_doubt=job.set_doubt)
        else:
            self._watch(self.name, owner, job.lose)

    def _mark_lost(self, owner: str, reason: str, *, release: bool = False) -> None:
        with self._state:
            if self._lost_reason is not None or self._token is None:
                return
            if self._owner is not None and self._owner != owner:
                return  # a later acquisition of this object; the old lease is not it
            self._lost_reason = reason
        if release and not self.backend.expires:
            # A lease that does not expire (a ZooKeeper node after SUSPENDED, a
            # file ticket) would block every waiter until release(): free it now.
            self._release_later(owner)
        notify(
            "accord_lock_lost",
            name=self.name,
            url=self.url,
            token=self._token,
            held=time.monotonic() - self._acquired_at,
            reason=reason,
        )
        for callback in list(self._on_lost):
            try:
                callback(self, reason)
            except Exception:
                logger.exception("on_lost callback of lock %r failed", self.name)
