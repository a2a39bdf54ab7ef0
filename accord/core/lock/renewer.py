"""One background thread per process that runs every lock's lease upkeep.

Failure behaviour first: a job that raises is logged (logger
``accord.lock``) and not rescheduled; the thread itself never dies of a job's
error. Jobs run one after another, so a backend call that blocks delays the
others: backends bound every call with a socket timeout.

A thread per lock would cost ~50-100 us per acquire (the thread start) and a
thread per held lock; one shared thread costs a heap push. The thread is a
daemon, started on first use, and again in a child after ``fork`` (threads do
not survive it); jobs of the parent are not carried into the child.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from accord.core.errors import LockError

if TYPE_CHECKING:
    from accord.core.lock.base import LockBackend

__all__ = ["RENEW_FRACTION", "Job", "keep_renewed", "schedule"]

logger = logging.getLogger("accord.lock")

#: A job returns the delay until its next run, or None to stop.
JobFunction = Callable[[], "float | None"]


class Job:
    """A scheduled job; :meth:`cancel` stops it (a run in progress finishes)."""

    __slots__ = ("cancelled", "function")

    def __init__(self, function: JobFunction) -> None:
        self.function = function
        self.cancelled = False

    def cancel(self) -> None:
        """Run this job no more. Never raises."""
        self.cancelled = True


class _Scheduler:
    def __init__(self) -> None:
        self._seq = itertools.count()
        self._reset()
        # A child of fork has no renewer thread and maybe a condition locked
        # by the parent's: start afresh there (the parent's leases are not the child's).
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._heap: list[tuple[float, int, Job]] = []
        self._cond = threading.Condition(threading.Lock())
        self._pid = -1
        self._sleeps_until = float("inf")  # when the thread will next look at the heap

    def schedule(self, delay: float, function: JobFunction) -> Job:
        job = Job(function)
        with self._cond:
            if self._pid != os.getpid():  # first use
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="accord-lock-renewer", daemon=True).start()
            due = time.monotonic() + delay
            heapq.heappush(self._heap, (due, next(self._seq), job))
            # Wake the thread only if it sleeps past this job: waking it on every
            # acquire would cost the acquiring thread a GIL hand-off.
            if due < self._sleeps_until:
                self._sleeps_until = due
                self._cond.notify()
        return job

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    # Cancelled jobs are dropped when due, not at once: purging them
                    # early would empty the heap, and each next acquire would wake us.
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        _, _, job = heapq.heappop(self._heap)
                        if job.cancelled:
                            continue
                        break
                    self._sleeps_until = self._heap[0][0] if self._heap else float("inf")
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                self._sleeps_until = float("-inf")  # running jobs: no need to wake it
            try:
                delay = job.function()
            except Exception:
                logger.exception("accord lock upkeep job failed; it is not rescheduled")
                continue
            if delay is not None and not job.cancelled:
                with self._cond:
                    heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), job))


_scheduler = _Scheduler()


def schedule(delay: float, function: JobFunction) -> Job:
    """Run *function* on the shared thread after *delay* seconds, then again after
    each delay it returns, until it returns None or the job is cancelled."""
    return _scheduler.schedule(delay, function)


#: A held lease is renewed every ``ttl * RENEW_FRACTION`` seconds.
RENEW_FRACTION = 1 / 3


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
) -> Job:
    """Renew *owner*'s lease on *name* every ``ttl * RENEW_FRACTION`` seconds.

    The one lease upkeep of accord: :class:`~accord.core.lock.Lock` and the
    Celery singleton lease both use it. Failure behaviour: a renewal that
    raises :class:`~accord.core.errors.LockError` is retried at half the
    interval while the lease (``ttl`` after the last confirmed renewal) can
    still be running; after that ``on_lost("renewal failed: ...")`` is called.
    A renewal that finds the lease gone calls ``on_lost("expired or taken by
    another holder")``. Either way the upkeep stops.

    :param still_held: asked before each renewal; False stops the upkeep
        quietly (the holder released or re-acquired meanwhile).
    :param until: a ``time.monotonic()`` deadline past which the lease is not
        renewed (the lease then lasts at most until it); at that point
        *on_until* is called and the upkeep stops.
    :returns: the scheduled :class:`Job`; cancel it to stop renewing.
    """
    interval = ttl * RENEW_FRACTION
    renewed = [time.monotonic()]  # when the lease was last confirmed

    def upkeep() -> float | None:
        if not still_held():
            return None
        now = time.monotonic()
        if until is not None and now >= until:
            if on_until is not None:
                on_until()
            return None
        lease = ttl if until is None else min(ttl, until - now)
        try:
            ok = backend.renew(name, owner, lease)
        except LockError as error:
            # One failed renewal is not a loss: the lease runs until ttl after the last one.
            if now - renewed[0] + interval < ttl:
                logger.warning("renewing lock %r failed, will retry: %s", name, error)
                return interval / 2
            on_lost(f"renewal failed: {error}")
            return None
        if not ok:
            on_lost("expired or taken by another holder")
            return None
        renewed[0] = now
        return interval if until is None else min(interval, max(until - now, 0.01))

    return schedule(interval, upkeep)
