"""Which node serves a key, and what a node's failures mean for the caller.

This module does no I/O: the sync and async clients ask it where to send a
key, tell it about failures and successes, and carry out the repairs it asks
for (deleting keys whose write may have been lost, flushing a readmitted node,
deleting stand-in copies). Keeping the decisions here keeps both clients
identical in behaviour.

Failure behaviour by policy (``OPTIONS["failover"]``):

* ``raise``: nothing is recorded; the client lets the error propagate.
* ``miss`` and ``eject``: a connection error or timeout never reaches the
  caller. The operation reads as a miss (writes are dropped and counted) and
  the keys it tried to write are remembered, to be deleted on the node before
  it serves anything again. After ``failure_threshold`` consecutive failures
  the node is *out* for ``retry_after`` seconds: under ``miss`` its keys miss,
  under ``eject`` they go to the next live node of their preference list. Then
  one request probes it; on success it is flushed before it is readmitted, so
  nothing it held from before can be served stale.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from accord.contrib.django.cache.config import CacheConfig
from accord.core.plugins import notify

__all__ = [
    "FALLBACK_KEY_LIMIT",
    "PENDING_KEY_LIMIT",
    "NodeHealth",
    "Repair",
    "Router",
    "hash_tag",
    "split_misses",
]

logger = logging.getLogger("accord.cache")

#: Keys remembered per node whose write may have been lost; beyond it the node is flushed.
PENDING_KEY_LIMIT = 10_000
#: Stand-in copies remembered per ejected node; beyond it, writes delete instead of copy.
FALLBACK_KEY_LIMIT = 100_000


def hash_tag(key: bytes) -> bytes:
    """Redis Cluster's rule: hash only the first ``{...}`` body, if it is not empty."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


class NodeHealth:
    """The failure bookkeeping of one node. Mutated under :attr:`lock` only."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.probe_lock = threading.Lock()
        #: True when the node is in service with nothing to repair: the fast path.
        self.ok = True
        self.failures = 0
        self.out = False
        self.out_since = 0.0
        self.retry_at = 0.0
        self.pending: set[str] = set()
        self.flush_needed = False
        #: Stand-in node -> keys written there while this node was out.
        self.fallback: dict[str, set[str]] = {}
        self.fallback_count = 0
        self.last_error: BaseException | None = None
        self.errors = 0
        self.missed_reads = 0
        self.dropped_writes = 0
        self.ejections = 0

    def _refresh(self) -> None:
        self.ok = not (self.failures or self.out or self.pending or self.flush_needed)

    def stats(self) -> dict[str, object]:
        """A snapshot for ``manage.py accord_ring`` and for users' metrics."""
        return {
            "state": "out" if self.out else ("failing" if self.failures else "up"),
            "consecutive_failures": self.failures,
            "errors": self.errors,
            "missed_reads": self.missed_reads,
            "dropped_writes": self.dropped_writes,
            "ejections": self.ejections,
            "last_error": repr(self.last_error) if self.last_error else None,
        }


@dataclass(frozen=True)
class Repair:
    """What must be done on a node before it may serve again."""

    node: str
    flush: bool
    delete: frozenset[str]
    #: On readmission: stand-in node -> keys to delete there.
    fallback: dict[str, frozenset[str]]
    readmit: bool


class Router:
    """Routes keys over the ring and applies the failover policy.

    :param config: the checked configuration.
    :param source: ``"cache:<alias>"``, passed to the observer hooks.
    """

    def __init__(self, config: CacheConfig, source: str) -> None:
        self.config = config
        self.source = source
        self.ring = config.build_ring()
        self.policy = config.failover
        self.health = {node.name: NodeHealth(node.name) for node in config.nodes}
        self._size = len(config.nodes)

    # ------------------------------------------------------------------ routing

    def place(self, key: str) -> tuple[str | None, str]:
        """Return ``(node to use, home node)`` for *key*; ``None`` means "a miss"."""
        home = self.ring.get_node(key)
        health = self.health[home]
        if health.ok or not health.out:
            return home, home
        if self.policy == "eject":
            for name in self.ring.get_nodes(key, self._size)[1:]:
                if not self.health[name].out:
                    return name, home
        return None, home

    def healthy(self) -> bool:
        """True when every node is in service with nothing to repair (the fast path)."""
        return all(health.ok for health in self.health.values())

    def group(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """Group *keys* by their home node (use when :meth:`healthy`)."""
        groups: dict[str, list[str]] = {}
        get_node = self.ring.get_node
        for key in keys:
            groups.setdefault(get_node(key), []).append(key)
        return groups

    def stand_in_timeout(self, timeout: float | None) -> float | None:
        """The timeout of a copy written to a stand-in node (capped by fallback_timeout)."""
        if self.config.fallback_timeout is None:
            return timeout
        # Redis's EX takes whole seconds: an int, or redis-py refuses the write.
        cap = math.ceil(self.config.fallback_timeout)
        return cap if timeout is None else min(timeout, cap)

    def track_stand_in(self, home: str, node: str, keys: Iterable[str]) -> bool:
        """Remember stand-in copies on *node* for *home*; False if the limit is reached.

        When it returns False the caller must delete the keys on *node*
        instead of writing them, so no untracked copy can outlive the outage.
        """
        health = self.health[home]
        keys = list(keys)
        with health.lock:
            if health.fallback_count + len(keys) > FALLBACK_KEY_LIMIT:
                return False
            bucket = health.fallback.setdefault(node, set())
            before = len(bucket)
            bucket.update(keys)
            health.fallback_count += len(bucket) - before
        return True

    # ------------------------------------------------------- failures, repairs

    def failed(
        self, node: str, error: BaseException, *, written: Iterable[str] = (), reads: int = 0
    ) -> None:
        """Record a connection failure of *node* (callers re-raise under ``raise``)."""
        health = self.health[node]
        written = list(written)
        ejected = False
        with health.lock:
            health.errors += 1
            health.last_error = error
            health.missed_reads += reads
            health.dropped_writes += len(written)
            if health.out:
                return
            health.failures += 1
            if not health.flush_needed:
                health.pending.update(written)
                if len(health.pending) > PENDING_KEY_LIMIT:
                    health.pending.clear()
                    health.flush_needed = True
            if health.failures >= self.config.failure_threshold:
                ejected = True
                health.out = True
                health.ejections += 1
                health.out_since = time.monotonic()
                health.retry_at = health.out_since + self.config.retry_after
                health.pending.clear()
                health.flush_needed = True
            health._refresh()
            failures = health.failures
        if ejected:
            logger.warning(
                "cache %s: node %s is out of service after %d failures (%r); "
                "probing again in %.1f s",
                self.source,
                node,
                failures,
                error,
                self.config.retry_after,
            )
            notify(
                "accord_node_ejected",
                source=self.source,
                node=node,
                error=error,
                failures=failures,
                retry_after=self.config.retry_after,
            )
        elif failures == 1:
            logger.warning(
                "cache %s: node %s failed (%r); the operation missed", self.source, node, error
            )

    def skipped(self, node: str, *, written: int = 0, reads: int = 0) -> None:
        """Count reads and writes that did not go to an out node."""
        health = self.health[node]
        with health.lock:
            health.missed_reads += reads
            health.dropped_writes += written

    def succeeded(self, node: str) -> None:
        """Reset the consecutive-failure count of an in-service *node*."""
        health = self.health[node]
        if health.failures and not health.out:
            with health.lock:
                health.failures = 0
                health._refresh()

    def repair_due(self, node: str) -> Repair | None:
        """Return the repair *node* needs before use, or None; claims the probe if due.

        A node that is out returns a readmission repair only when its retry
        time has come and no other thread is probing it; otherwise None, and
        the caller treats the node as out.
        """
        health = self.health[node]
        if health.ok:
            return None
        if health.out:
            if time.monotonic() < health.retry_at or not health.probe_lock.acquire(False):
                return None
            with health.lock:
                fallback = {n: frozenset(keys) for n, keys in health.fallback.items()}
            return Repair(node, True, frozenset(), fallback, readmit=True)
        with health.lock:
            if not (health.pending or health.flush_needed):
                return None
            return Repair(node, health.flush_needed, frozenset(health.pending), {}, False)

    def repaired(self, repair: Repair, leftovers: dict[str, frozenset[str]]) -> None:
        """Mark *repair* done; *leftovers* are stand-in copies whose deletion failed."""
        health = self.health[repair.node]
        with health.lock:
            health.pending.difference_update(repair.delete)
            if repair.flush:
                health.flush_needed = False
            if repair.readmit:
                downtime = time.monotonic() - health.out_since
                health.out = False
                health.failures = 0
                # Copies written after the snapshot stay tracked for the next readmission.
                for other, keys in repair.fallback.items():
                    health.fallback[other] -= keys
                health.fallback_count = sum(map(len, health.fallback.values()))
            health._refresh()
        for other, keys in leftovers.items():
            other_health = self.health[other]
            with other_health.lock:
                other_health.pending.update(keys)
                other_health._refresh()
        if repair.readmit:
            health.probe_lock.release()
            logger.warning("cache %s: node %s is back in service", self.source, repair.node)
            notify("accord_node_restored", source=self.source, node=repair.node, downtime=downtime)

    def repair_failed(self, repair: Repair, error: BaseException) -> None:
        """The repair could not be done: the node stays (or goes) out."""
        if repair.readmit:
            health = self.health[repair.node]
            with health.lock:
                health.retry_at = time.monotonic() + self.config.retry_after
                health.last_error = error
            health.probe_lock.release()
            return
        self.failed(repair.node, error)

    def mark_flush_needed(self, node: str) -> None:
        """A flush of *node* failed (e.g. in ``clear()``): flush it before its next use."""
        health = self.health[node]
        with health.lock:
            health.pending.clear()
            health.flush_needed = True
            health._refresh()


def split_misses(groups: dict[str | None, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Split node groups into the served ones and the keys that miss (group ``None``)."""
    misses = groups.pop(None, [])
    return {node: keys for node, keys in groups.items() if node is not None}, misses
