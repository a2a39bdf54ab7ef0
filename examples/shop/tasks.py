"""The shop's Celery tasks.

``rebuild_statement`` must never run twice at once for one account (two
copies would both read the old statement and write over each other), so it
is a ``@singleton_task`` keyed by ``account_id``: positional and keyword
calls of one account are the same key, and a duplicate submitted while one
runs gets the running task's result instead of a second run.

The body counts its runs and any overlap in the shop's cache, so the demo
can show what happened in the worker processes.
"""

from __future__ import annotations

import os
import time

from django.core.cache import cache

from accord.contrib.celery import singleton_task


@singleton_task(key=["account_id"])
def rebuild_statement(account_id: int, seconds: float = 2.0) -> dict[str, int]:
    running = _incr(f"statement:{account_id}:running")
    if running > 1:  # another copy of this key is in its body right now
        _incr(f"statement:{account_id}:overlaps")
    try:
        time.sleep(seconds)  # stands for reading orders and writing a statement
        _incr(f"statement:{account_id}:runs")
    finally:
        cache.decr(f"statement:{account_id}:running")
    return {"account_id": account_id, "pid": os.getpid()}


def _incr(key: str) -> int:
    cache.add(key, 0, timeout=None)  # incr needs the key to exist
    return cache.incr(key)
