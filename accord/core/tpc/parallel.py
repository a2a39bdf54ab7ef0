"""Run one step on several participants at once: prepares, and phase-two commits.

Failure behaviour first: :func:`each` never raises for an action that fails;
it returns every action's result or exception, in the participants' order,
after all of them have finished (so the caller decides with full knowledge,
and no session is still in use when it does).

Each participant's session is used by one thread at a time: the first
participant's action runs on the calling thread, the others on a small
process-wide pool (the drivers release the GIL while they wait on the
network, so prepares on several databases overlap: their fsyncs are paid
once, not once per database).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["each"]

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
    """``action(item)`` for every item, concurrently; results or exceptions, in order."""
    if len(items) <= 1:
        return [_run(action, item) for item in items]
    futures: list[Future[_R | BaseException]] = [
        _executor().submit(_run, action, item) for item in items[1:]
    ]
    first = _run(action, items[0])
    return [first, *(future.result() for future in futures)]
