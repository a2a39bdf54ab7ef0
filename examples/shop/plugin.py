"""A third-party-style accord plugin: it counts the events accord reports.

A plugin is any object with functions named after accord's hooks, marked
with ``@hookimpl``; this one is a module. The shop registers it in
``ShopConfig.ready()`` with ``get_plugin_manager().register``; a plugin
shipped as its own distribution would declare an entry point instead::

    [project.entry-points.accord]
    shop-event-counter = "examples.shop.plugin"

Each implementation takes only the hook parameters it needs. Observers run in
the thread that caused the event, so they only bump a counter (under a lock:
the cache fires events from several threads).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

from accord import hookimpl

NAME = "shop-event-counter"
events: Counter[str] = Counter()
_lock = threading.Lock()


def _count(event: str) -> None:
    with _lock:
        events[event] += 1


def snapshot() -> dict[str, int]:
    """The counts so far, sorted by event name."""
    with _lock:
        return dict(sorted(events.items()))


@hookimpl
def accord_ring_changed(added: Sequence[str], removed: Sequence[str]) -> None:
    _count("ring changed")


@hookimpl
def accord_node_ejected(node: str) -> None:
    _count("cache node ejected")


@hookimpl
def accord_node_restored(node: str) -> None:
    _count("cache node restored")


@hookimpl
def accord_lock_acquired(name: str) -> None:
    _count("lock acquired")


@hookimpl
def accord_lock_lost(name: str) -> None:
    _count("lock lost")


@hookimpl
def accord_task_duplicate_suppressed(task_name: str, stage: str) -> None:
    _count(f"duplicate task suppressed ({stage})")


@hookimpl
def accord_tpc_outcome(outcome: str) -> None:
    _count(f"2PC {outcome}")


@hookimpl
def accord_tpc_in_doubt_resolved(outcome: str) -> None:
    _count(f"in-doubt branch {outcome} by recovery")
