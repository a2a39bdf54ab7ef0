"""Run one step on several participants at once: prepares, and phase-two commits.

Failure behaviour first: :func:`each` and :func:`overlapped` never raise for
a step that fails; they return every step's result or exception, in the
items' order, after all of them have finished (so the caller decides with
full knowledge, and no session is still in use when it does).

Two ways to overlap, cheapest first. A participant whose session can send a
statement without waiting for its reply (psycopg 3, mysqlclient) has its
statement sent, then the others', and only then are the replies read: one
thread, and the databases' round trips and fsyncs overlap. The others run on a
small process-wide pool of threads (the drivers release the GIL while they wait
on the network), the first of them on the calling thread. Each session is used
by one thread at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["each", "overlapped"]

_T = TypeVar("_T")
_R = TypeVar("_R")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_MAX_WORKERS = 16


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="accord-tpc")
        return _pool


def _run(action: Callable[[_T], _R], item: _T) -> _R | BaseException:
    try:
        return action(item)
    except BaseException as exc:  # handed back to the caller, never lost in a thread
        return exc


def each(items: Sequence[_T], action: Callable[[_T], _R]) -> list[_R | BaseException]:
    """``action(item)`` for every item, concurrently on threads; results or exceptions."""
    if len(items) <= 1:
        return [_run(action, item) for item in items]
    futures: list[Future[_R | BaseException]] = [
        _executor().submit(_run, action, item) for item in items[1:]
    ]
    first = _run(action, items[0])
    return [first, *(future.result() for future in futures)]


def overlapped(
    items: Sequence[_T],
    start: Callable[[_T], Callable[[], _R] | None],
    run: Callable[[_T], _R],
) -> list[_R | BaseException]:
    """Every item's step: ``start(item)`` sends it and returns a finisher (or None: then
    ``run(item)`` does it, through :func:`each`); results or exceptions, in order."""
    if len(items) == 1:  # nothing to overlap
        try:
            finisher = start(items[0])
        except BaseException as exc:
            return [exc]
        if finisher is None:
            return [_run(run, items[0])]
        return [_run(lambda finish: finish(), finisher)]
    results: dict[int, _R | BaseException] = {}
    finishers: dict[int, Callable[[], _R]] = {}
    for index, item in enumerate(items):
        try:
            finisher = start(item)
        except BaseException as exc:
            results[index] = exc
            continue
        if finisher is not None:
            finishers[index] = finisher
    rest = [i for i in range(len(items)) if i not in results and i not in finishers]
    for index, out in zip(rest, each([items[i] for i in rest], run), strict=True):
        results[index] = out
    for index, finisher in finishers.items():
        results[index] = _run(lambda finish: finish(), finisher)
    return [results[i] for i in range(len(items))]
