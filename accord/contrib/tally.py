"""Exact counts and fixed-bucket histograms, added to per thread and summed when read.

What the metrics plugins keep for the events of every cache operation and
lock acquisition: a metrics library spends about a microsecond
(``prometheus_client``) to several (the OpenTelemetry SDK) on each
measurement, which a 40 us cache hit cannot afford. A :class:`Tally` holds,
per series (a hashable key), a row of numbers, e.g. a histogram's bucket
counts, its sum, and a hit and a miss count. Each thread adds to rows of its
own, without a lock; :meth:`Tally.snapshot` sums every thread's rows when the
exporter collects, so its cost is paid per scrape (threads x series x row
width), not per operation.

Failure behaviour: nothing here raises. Counts are exact: a row is written by
one thread only, so no increment is lost; a snapshot taken while a thread
adds may see that thread's latest event in part (its bucket counted, its
duration not yet in the sum), and the next one sees it whole. The rows of a
thread that has ended are folded into one set of rows when the next
snapshot (or the next new thread) finds it ended, so threads that come and go
keep memory bounded by the threads alive.

A child made by ``fork()`` (a Celery prefork worker's) gets a fresh internal
lock, so a lock another thread of the parent held at the fork cannot freeze
it; it starts with the counts the parent had, as ``prometheus_client``'s
values do.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["Tally", "bucket_index"]

#: A thread's rows: series key -> numbers.
Rows = dict[Any, list[float]]


def bucket_index(bounds: Sequence[float], value: float) -> int:
    """The index of the bucket that counts *value*: the first bound it does not exceed.

    ``len(bounds)`` (the ``+Inf`` bucket) for a value above every bound: the
    ``le`` rule of Prometheus and of OpenTelemetry's explicit buckets.
    """
    return bisect_left(bounds, value)


class Tally:
    """Rows of *width* numbers per series key, each thread adding to its own.

    The hot path is :meth:`row` (or, inlined, ``tally.local.rows`` with
    :meth:`rows` on ``AttributeError``) and ``row[i] += n``.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        #: ``local.rows``: the calling thread's rows, once it has added to any.
        self.local = threading.local()
        self._lock = threading.Lock()
        self._threads: list[tuple[threading.Thread, Rows]] = []
        self._ended: Rows = {}
        #: When each series key was first added to (``time.time()``).
        self.created: dict[Any, float] = {}
        _TALLIES.add(self)

    def rows(self) -> Rows:
        """The calling thread's rows, made and registered on its first call."""
        try:
            return self.local.rows  # type: ignore[no-any-return]
        except AttributeError:
            pass
        rows: Rows = {}
        with self._lock:
            self._fold_ended()
            self._threads.append((threading.current_thread(), rows))
        self.local.rows = rows
        return rows

    def new_row(self, rows: Rows, key: Hashable) -> list[float]:
        """The row of *key* in the calling thread's *rows*, added if it is not there."""
        row = rows.get(key)
        if row is not None:
            return row
        row = rows[key] = [0] * self.width
        self.created.setdefault(key, time.time())
        return row

    def row(self, key: Hashable) -> list[float]:
        """The calling thread's row for *key*: add to it in place."""
        rows = self.rows()
        row = rows.get(key)
        return self.new_row(rows, key) if row is None else row

    def snapshot(self) -> Rows:
        """Every series' row, summed over all threads (a copy)."""
        with self._lock:
            self._fold_ended()
            total = {key: list(row) for key, row in self._ended.items()}
            for _, rows in self._threads:
                # list() copies in one C call: another thread cannot change the
                # dict or a row in the middle of it.
                for key, row in list(rows.items()):
                    _add(total, key, list(row))
        return total

    def _fold_ended(self) -> None:
        """Move the rows of ended threads into ``_ended`` (the lock is held)."""
        alive = []
        for thread, rows in self._threads:
            if thread.is_alive():
                alive.append((thread, rows))
            else:
                for key, row in list(rows.items()):
                    _add(self._ended, key, list(row))
        self._threads = alive


#: Every Tally alive, for :func:`_after_fork_in_child`.
_TALLIES: weakref.WeakSet[Tally] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """Give every Tally a new lock: the thread that held the old one is not in the child."""
    for tally in list(_TALLIES):
        tally._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _add(total: Rows, key: Hashable, row: list[float]) -> None:
    mine = total.get(key)
    if mine is None:
        total[key] = row
    else:
        for i, value in enumerate(row):
            mine[i] += value
