"""Lease upkeep for every lock of the process: one timer, renewal workers, one notifier.

Failure behaviour first:

* The **timer thread** only keeps time. It never calls a backend or user
  code, so no server and no callback can stop or delay it; its waits are
  clamped to :data:`threading.TIMEOUT_MAX`, so no interval (a lease of
  ``1e11`` s) can make it raise. It never dies.
* Each due job runs on a **worker** thread. A renewal stuck on a paused
  server holds up that lease only: workers are started as needed (at most
  :data:`MAX_WORKERS`; an idle one exits after :data:`WORKER_IDLE` s). A job
  that raises is logged (logger ``accord.lock``) and not rescheduled.
* Loss notices (``on_lost``) run on one **notifier** thread, in order. A
  callback that blocks delays later callbacks only; the loss itself is
  recorded at once in :attr:`Upkeep.lost`, which holders read.

The timer, workers and notifier are daemons started on first use, and again
in a child after ``fork`` (threads do not survive it); jobs of the parent are
not carried into the child. Scheduling a job costs a heap push: the acquire
path starts no thread.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from accord.core.errors import LockError
from accord.core.validate import number

if TYPE_CHECKING:
    from accord.core.lock.base import LockBackend

__all__ = [
    "MAX_WORKERS",
    "RENEW_FRACTION",
    "WORKER_IDLE",
    "Job",
    "Upkeep",
    "describe",
    "keep_renewed",
    "notify_soon",
    "schedule",
]

logger = logging.getLogger("accord.lock")

#: A job returns the delay until its next run, or None to stop.
JobFunction = Callable[[], "float | None"]

#: At most this many jobs run at once; more wait for a free worker.
MAX_WORKERS = 64
#: Seconds an idle worker waits for work before it exits.
WORKER_IDLE = 10.0
_PURGE_AT = 256  # heap size past which mostly cancelled jobs are purged


def _nothing() -> None:
    return None


def describe(error: BaseException) -> str:
    """An error's message, or its type's name when the message is empty (kazoo's timeouts)."""
    return str(error) or type(error).__name__


def _clamped(seconds: float) -> float:
    return min(max(seconds, 0.0), threading.TIMEOUT_MAX)


class Job:
    """A scheduled job; :meth:`cancel` stops it (a run in progress finishes)."""

    __slots__ = ("cancelled", "function")

    def __init__(self, function: JobFunction) -> None:
        self.function = function
        self.cancelled = False

    def cancel(self) -> None:
        """Run this job no more. Never raises."""
        self.cancelled = True
        self.function = _nothing  # what it holds can go now, not when it comes due
        _threads.cancels += 1  # a hint for purging the heap: races only miscount it

    @property
    def active(self) -> bool:
        """False once cancelled (or, for an :class:`Upkeep`, once the lease was lost)."""
        return not self.cancelled


class _Threads:
    """The timer, the workers and the notifier of one process."""

    def __init__(self) -> None:
        self._seq = itertools.count()
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the timer waits on it
        self._work_cond = threading.Condition(lock)  # idle workers wait on it
        self._notice_cond = threading.Condition(lock)  # the notifier waits on it
        self._heap: list[tuple[float, int, Job]] = []
        self._ready: collections.deque[Job] = collections.deque()
        self._notices: collections.deque[Callable[[], object]] = collections.deque()
        self._workers = 0
        self._idle = 0
        self._notifier = False
        self._timing = False  # the timer thread runs
        self._sleeps_until = math.inf  # when the timer will next look at the heap
        self.cancels = 0  # jobs cancelled since the heap was last purged

    # -- the timer -----------------------------------------------------------------

    def schedule(self, delay: float, function: JobFunction) -> Job:
        job = Job(function)
        self._push(job, delay)
        return job

    def _push(self, job: Job, delay: float) -> None:
        with self._cond:
            if not self._timing:  # first use, or a forked child (_reset after fork)
                self._timing = True
                threading.Thread(target=self._time, name="accord-lock-timer", daemon=True).start()
            if len(self._heap) > _PURGE_AT and self.cancels > len(self._heap) // 2:
                # Mostly cancelled jobs (locks taken and released): drop them now,
                # a small heap is cheap to push to and to collect.
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self.cancels = 0
            due = time.monotonic() + _clamped(delay)
            heapq.heappush(self._heap, (due, next(self._seq), job))
            # Wake the timer only if it sleeps past this job: waking it on every
            # acquire would cost the acquiring thread a GIL hand-off.
            if due < self._sleeps_until:
                self._sleeps_until = due
                self._cond.notify()

    def _time(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                # Cancelled jobs are dropped when due, or by a purge when they are
                # most of the heap (see _push); the timer is not woken for either.
                while self._heap and self._heap[0][0] <= now:
                    _, _, job = heapq.heappop(self._heap)
                    if not job.cancelled:
                        self._ready.append(job)
                if self._ready:
                    try:
                        self._staff()
                    except Exception:  # no thread could be started: the workers there are go on
                        logger.exception("accord lock renewer could not start a worker")
                self._sleeps_until = self._heap[0][0] if self._heap else math.inf
                wait = None if not self._heap else _clamped(self._heap[0][0] - now)
                self._cond.wait(wait)

    # -- the workers ---------------------------------------------------------------

    def _staff(self) -> None:
        """Make sure ready jobs find a worker (called with the condition held)."""
        self._work_cond.notify(len(self._ready))
        wanted = len(self._ready) - self._idle
        while wanted > 0 and self._workers < MAX_WORKERS:
            thread = threading.Thread(target=self._work, name="accord-lock-renewal", daemon=True)
            thread.start()  # may raise (no more threads): the counts are not yet changed
            self._workers += 1
            self._idle += 1
            wanted -= 1

    def _work(self) -> None:
        while True:
            with self._work_cond:
                deadline = time.monotonic() + WORKER_IDLE
                while not self._ready:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._workers -= 1
                        self._idle -= 1
                        return
                    self._work_cond.wait(left)
                job = self._ready.popleft()
                self._idle -= 1
            try:
                delay = None if job.cancelled else job.function()
            except Exception:
                logger.exception("accord lock upkeep job failed; it is not rescheduled")
                delay = None
            with self._work_cond:
                self._idle += 1
            if delay is not None and not job.cancelled:
                self._push(job, delay)

    # -- the notifier ---------------------------------------------------------------

    def notify_soon(self, function: Callable[[], object]) -> None:
        with self._notice_cond:
            self._notices.append(function)
            if not self._notifier:
                self._notifier = True
                threading.Thread(
                    target=self._notify, name="accord-lock-notices", daemon=True
                ).start()
            self._notice_cond.notify()

    def _notify(self) -> None:
        while True:
            with self._notice_cond:
                while not self._notices:
                    self._notice_cond.wait()
                function = self._notices.popleft()
            try:
                function()
            except Exception:
                logger.exception("accord lock loss notice failed")


_threads = _Threads()


def schedule(delay: float, function: JobFunction) -> Job:
    """Run *function* on a worker after *delay* seconds, then again after each
    delay it returns, until it returns None or the job is cancelled."""
    return _threads.schedule(delay, function)


def notify_soon(function: Callable[[], object]) -> None:
    """Run *function* on the notifier thread, after the notices queued before it."""
    _threads.notify_soon(function)


#: A held lease is renewed every ``ttl * RENEW_FRACTION`` seconds.
RENEW_FRACTION = 1 / 3


_losses = threading.Lock()  # orders a loss against a cancel (rare: one lock for all)

_UNCONFIRMED = (
    "expired: no renewal was confirmed within the lease (the server did not answer in time, "
    "or this process was paused)"
)


class Upkeep(Job):
    """The upkeep of one lease: its renewals, and what is known of its end.

    :attr:`lost` is the reason the lease was lost, or None; it is set the
    moment the loss is known (before ``on_lost`` runs on the notifier
    thread) and never cleared. :attr:`valid_until` is the ``time.monotonic()``
    time until which the lease surely runs (``inf`` when the server does not
    end leases by itself): the send time of the last renewal the server
    confirmed, plus the lease. Reading :attr:`lost` past that time marks the
    lease lost, even if no renewal has run since (the process was paused).
    """

    __slots__ = ("_doubt", "_expired", "_lost", "_on_lost", "valid_until")

    def __init__(
        self, valid_until: float, on_lost: Callable[[str], object], expired: str = _UNCONFIRMED
    ) -> None:
        super().__init__(lambda: None)
        self.valid_until = valid_until
        self._on_lost = on_lost
        self._expired = expired
        self._lost: str | None = None
        self._doubt: str | None = None

    @property
    def doubt(self) -> str | None:
        """Why the lease is in doubt right now (it may or may not run), or None.

        Set and cleared by a backend that reports doubt (ZooKeeper's SUSPENDED
        with ``suspended="wait"``); a holder must not act while it is set.
        """
        return self._doubt

    def set_doubt(self, reason: str | None) -> None:
        """Record that the lease is in doubt (*reason*), or no longer (None). Never raises."""
        self._doubt = reason

    @property
    def lost(self) -> str | None:
        """Why the lease was lost, or None while it surely runs."""
        if self._lost is None and time.monotonic() >= self.valid_until:
            self.lose(self._expired)
        return self._lost

    def lose(self, reason: str) -> None:
        """Record the loss (the first reason wins), stop renewing, and queue ``on_lost(reason)``.

        Does nothing after :meth:`cancel` (the holder released) or a first loss. Never raises.
        """
        with _losses:
            if self._lost is not None or self.cancelled:
                return
            self._lost = reason
            self.cancelled = True
        on_lost = self._on_lost
        notify_soon(lambda: on_lost(reason))

    def cancel(self) -> None:
        """Stop the upkeep quietly (the holder released). Never raises."""
        with _losses:
            self.cancelled = True
        self.function = _nothing  # the renewal's closure (and the lock it holds) can go
        _threads.cancels += 1


def keep_renewed(
    backend: LockBackend,
    name: str,
    owner: str,
    ttl: float,
    *,
    on_lost: Callable[[str], object],
    still_held: Callable[[], bool] = lambda: True,
    until: float | None = None,
    on_until: Callable[[], object] | None = None,
    renew: bool = True,
    since: float | None = None,
) -> Upkeep:
    """Keep *owner*'s lease on *name*: renew it every ``ttl * RENEW_FRACTION`` seconds.

    The one lease upkeep of accord: :class:`~accord.core.lock.Lock` and the
    Celery singleton lease both use it. Failure behaviour: a renewal that
    raises :class:`~accord.core.errors.LockError` is retried at half the
    interval while the lease can still be running; a lease no renewal
    confirmed for ``ttl`` seconds (the server is slow or down, or this
    process was paused) is lost with ``"expired: ..."`` or ``"renewal
    failed: <error>"``, at the latest when its ``ttl`` ends, even while a
    renewal is still waiting for the server. A renewal that finds the lease
    gone loses it with ``"expired or taken by another holder"``. ``on_lost``
    runs once, on the notifier thread; the upkeep then stops.

    :param still_held: asked before each renewal; False stops the upkeep
        quietly (the holder released or re-acquired meanwhile).
    :param until: a ``time.monotonic()`` deadline past which the lease is not
        renewed (the lease then lasts at most until it); at that point
        *on_until* is called (on a worker) and the upkeep stops.
    :param renew: False: never renew; the lease is lost (``"expired"``) ``ttl``
        after *since* on backends whose leases expire.
    :param since: when the lease began (``time.monotonic()``; default now).
    :returns: the :class:`Upkeep`; cancel it to stop renewing.
    """
    ttl = number(ttl, "ttl", minimum=0, above=True, unit="seconds")
    interval = ttl * RENEW_FRACTION
    started = time.monotonic() if since is None else since
    expires = backend.expires
    upkeep = Upkeep(
        started + ttl if expires else math.inf,
        on_lost,
        _UNCONFIRMED if renew else "expired",
    )
    confirmed = [started]  # when the last confirmed renewal was sent

    if not renew and expires:

        def expire() -> float | None:
            if still_held():
                _ = upkeep.lost  # past valid_until: lost as "expired"
            return None

        upkeep.function = expire
        _threads._push(upkeep, started + ttl - time.monotonic())
        return upkeep

    def renewal() -> float | None:
        if upkeep.cancelled or not still_held() or upkeep.lost is not None:
            return None
        sent = time.monotonic()
        if until is not None and sent >= until:
            if on_until is not None:
                on_until()
            return None
        lease = ttl if until is None else min(ttl, until - sent)
        watchdog = _watch(upkeep) if expires else None
        try:
            ok = backend.renew(name, owner, lease)
        except LockError as error:
            if not upkeep.active:
                return None
            ends = upkeep.valid_until if expires else confirmed[0] + ttl
            if time.monotonic() + interval / 2 < ends:
                logger.warning("renewing lock %r failed, will retry: %s", name, describe(error))
                return interval / 2
            upkeep.lose(f"renewal failed: {describe(error)}")
            return None
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if not upkeep.active:
            return None
        if not ok:
            upkeep.lose("expired or taken by another holder")
            return None
        confirmed[0] = sent
        if expires:
            upkeep.valid_until = sent + lease
        return interval if until is None else min(interval, max(until - sent, 0.01))

    upkeep.function = renewal
    _threads._push(upkeep, max(started + interval - time.monotonic(), 0.0))
    return upkeep


def _watch(upkeep: Upkeep) -> Job:
    """While a renewal waits for the server, lose the lease the moment it may have ended."""

    def check() -> float | None:
        if upkeep.cancelled:
            return None
        left = upkeep.valid_until - time.monotonic()
        if left > 0:
            return left
        upkeep.lose("renewal failed: the server did not confirm the lease before it ended")
        return None

    return _threads.schedule(upkeep.valid_until - time.monotonic(), check)
