"""The failure bookkeeping of one node, which the router reads and changes under its lock."""

from __future__ import annotations

import threading
from collections import deque

__all__ = ["JOURNAL_LIMIT", "NodeHealth"]

#: Recent writes remembered per group for ``replication_window``; beyond it a failover wipes.
JOURNAL_LIMIT = 10_000
#: Ejections and readmissions remembered per node, for the admin page.
EVENT_LIMIT = 20


class NodeHealth:
    """The failure bookkeeping of one node. Mutated under :attr:`lock` only."""

    def __init__(self, name: str, group: bool) -> None:
        self.name = name
        self.group = group
        self.lock = threading.Lock()
        #: True when the node is in service with nothing to repair: the fast path.
        self.ok = True
        self.failures = 0
        self.out = False
        self.out_since = 0.0
        self.retry_at = 0.0
        self.probing = False
        self.pending: set[str] = set()
        self.wipe_needed = False
        self.last_success = 0.0
        self.journal: deque[tuple[float, str]] = deque(maxlen=JOURNAL_LIMIT)
        #: Stand-in node -> the readmission marker seen there when this node went out.
        self.epochs: dict[str, str] = {}
        self.baseline_needed = False
        #: Stand-in node -> keys copied there during this outage.
        self.copies: dict[str, set[str]] = {}
        self.copy_count = 0
        self.last_error: BaseException | None = None
        self.errors = 0
        self.missed_reads = 0
        self.dropped_writes = 0
        self.ejections = 0
        #: Wall-clock time the node went out (for people; the router uses out_since).
        self.out_since_wall = 0.0
        #: Recent ``(wall-clock time, "ejected" or "readmitted", detail)``, oldest first.
        self.events: deque[tuple[float, str, str]] = deque(maxlen=EVENT_LIMIT)

    def refresh(self) -> None:
        self.ok = not (self.failures or self.out or self.pending or self.wipe_needed)

    def stats(self) -> dict[str, object]:
        """A snapshot for ``manage.py accord_ring`` and for users' metrics (no secret in it)."""
        return {
            "state": "out" if self.out else ("failing" if self.failures else "up"),
            "consecutive_failures": self.failures,
            "errors": self.errors,
            "missed_reads": self.missed_reads,
            "dropped_writes": self.dropped_writes,
            "ejections": self.ejections,
            "pending_keys": len(self.pending),
            "last_error": type(self.last_error).__name__ if self.last_error else None,
            "out_since": self.out_since_wall if self.out else None,
            "events": list(self.events),
        }
