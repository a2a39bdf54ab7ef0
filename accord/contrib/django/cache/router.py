"""Which node serves a key, and what a node's failures mean: a pure state machine.

The router does no I/O and reads time only from the ``clock`` it is given,
so it is tested as a state machine with a fake clock
(``tests/unit/test_cache_router.py``). The executors ask it for routes and
repairs, carry them out, and report what happened.

Failure behaviour by policy (``OPTIONS["failover"]``):

* ``raise``: nothing is recorded; the executor lets the error propagate.
* ``miss`` and ``eject``: a connection error never reaches the caller. The
  call reads as a miss, writes are dropped and their keys remembered
  (*pending*): a pending key is deleted on its node, in the same round trip,
  before that node serves it again. After ``failure_threshold`` consecutive
  failures a node is *out*:

  - a plain Redis node stays out ``retry_after`` seconds; under ``eject`` its
    keys go meanwhile to the next node of their preference list (a
    *stand-in*), as copies named for the outage (:func:`~.keys.stand_in_key`)
    and guarded by the node's readmission marker. Then one call probes it;
    if it answers it is wiped, its marker is renewed on every other node
    (so no process, this one or another, serves a copy of this outage any
    more), its copies are deleted, and it is back;
  - a *group* (a Sentinel group, or the whole Redis Cluster) fails over by
    itself: it is never replaced by a stand-in and never wiped. It is probed
    again after ``group_retry_after`` seconds. When it first fails, the keys
    it acknowledged within ``replication_window`` seconds before its last
    success become pending, since a promoted replica may lack them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from accord.contrib.django.cache.config import CacheConfig, build_ring
from accord.contrib.django.cache.health import JOURNAL_LIMIT, NodeHealth
from accord.contrib.django.cache.keys import marker_key
from accord.contrib.django.cache.plan import Command, Repair, Route, Step
from accord.core.plugins import notify

__all__ = ["JOURNAL_LIMIT", "PENDING_KEY_LIMIT", "STAND_IN_KEY_LIMIT", "NodeHealth", "Router"]

logger = logging.getLogger("accord.cache")

#: Keys remembered per node whose write may have been lost; beyond it the node is wiped.
PENDING_KEY_LIMIT = 10_000
#: Stand-in copies remembered per out node (to delete at readmission); beyond it none is written.
STAND_IN_KEY_LIMIT = 100_000


class Router:
    """Routes keys over the ring (or to the one cluster) and applies the failover policy.

    :param config: the checked configuration.
    :param source: ``"cache:<alias>"``, passed to the observer hooks.
    :param clock: seconds, monotonic (a fake one in unit tests).
    """

    def __init__(
        self, config: CacheConfig, source: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.options = config.options
        self.source = source
        self.clock = clock
        self.names = tuple(node.name for node in config.nodes)
        self.ring = None if config.cluster else build_ring(config)
        self.health = {
            node.name: NodeHealth(node.name, node.kind != "redis") for node in config.nodes
        }
        self.eject = self.options.failover == "eject"
        self.record = self.options.failover != "raise"
        self._ok_routes = {name: Route(name, name, None, False) for name in self.names}
        self._markers = {name: marker_key(config.key_prefix, name) for name in self.names}
        #: True while every node is in service with nothing to repair.
        self.all_ok = True
        # One node (or a cluster): no ring lookup needed.
        self._only = self.names[0] if len(self.names) == 1 else None

    # ------------------------------------------------------------------ routing

    def home(self, key: str) -> str:
        """The node that owns *key*."""
        return self._only or self.ring.get_node(key)  # type: ignore[union-attr]

    def route(self, key: str, home: str | None = None) -> Route:
        """Where to send *key* now. Never claims a repair: see :meth:`claim_repairs`.

        *home*: the key's node (:meth:`home`), if the caller has it already.
        """
        home = home or self._only or self.ring.get_node(key)  # type: ignore[union-attr]
        health = self.health[home]
        if health.ok:
            return self._ok_routes[home]
        if health.out or health.wipe_needed:
            if self.eject and not health.group and health.out and self.ring is not None:
                for other in self.ring.get_nodes(key, len(self.names))[1:]:
                    stand_in = self.health[other]
                    epoch = health.epochs.get(other)
                    if epoch is not None and stand_in.ok:
                        return Route(other, home, epoch, False)
            return Route(None, home, None, False)
        return Route(home, home, None, key in health.pending)

    def marker(self, node: str) -> str:
        """The readmission marker key of *node* (kept on every other node)."""
        return self._markers[node]

    def stand_in_timeout(self, timeout: float | None) -> int | None:
        """The timeout of a copy written to a stand-in node (capped by ``fallback_timeout``)."""
        cap = self.options.fallback_timeout
        if cap is None:
            return None if timeout is None else int(timeout)
        # Redis's EX takes whole seconds: an int, or redis-py refuses the write.
        cap_s = max(1, int(-(-cap // 1)))
        return cap_s if timeout is None else min(int(timeout), cap_s)

    def track_copies(self, home: str, stand_in: str, keys: Iterable[str]) -> bool:
        """Remember copies of *home*'s keys on *stand_in*; False (write none) past the limit."""
        health = self.health[home]
        keys = list(keys)
        with health.lock:
            if health.copy_count + len(keys) > STAND_IN_KEY_LIMIT:
                return False
            bucket = health.copies.setdefault(stand_in, set())
            before = len(bucket)
            bucket.update(keys)
            health.copy_count += len(bucket) - before
        return True

    # ------------------------------------------------------------------ outcomes

    def succeeded(self, node: str, written: Sequence[str] = ()) -> None:
        """*node* answered; *written* keys were acknowledged (journaled for groups)."""
        health = self.health[node]
        now = self.clock()
        health.last_success = now
        if health.group and written and self.record:
            window = now - self.options.replication_window
            with health.lock:  # _keys_at_risk reads it under the lock
                journal = health.journal
                journal.extend((now, key) for key in written)
                while journal and journal[0][0] < window:
                    journal.popleft()
        if health.failures and not health.out:
            with health.lock:
                health.failures = 0
                health.refresh()

    def purged(self, node: str, keys: Iterable[str]) -> None:
        """Pending *keys* were deleted on *node*."""
        health = self.health[node]
        with health.lock:
            health.pending.difference_update(keys)
            health.refresh()
            self._refresh_all()

    def skipped(self, node: str, *, written: Collection[str] = (), reads: int = 0) -> None:
        """Count reads and writes that no node served; the *written* keys become pending.

        A node that is not wiped when it comes back (a Sentinel group or a
        cluster keeps its data through a failover) still holds what those
        keys held before: they are purged before their next use.
        """
        health = self.health[node]
        with health.lock:
            health.missed_reads += reads
            health.dropped_writes += len(written)
            if written and not health.wipe_needed:
                health.pending.update(written)
                if len(health.pending) > PENDING_KEY_LIMIT:
                    health.pending.clear()
                    health.wipe_needed = True
                health.refresh()

    def failed(
        self, node: str, error: BaseException, *, written: Iterable[str] = (), reads: int = 0
    ) -> None:
        """Record a connection failure of *node* (the executor re-raises under ``raise``)."""
        health = self.health[node]
        written = list(written)
        now = self.clock()
        ejected = False
        with health.lock:
            health.errors += 1
            health.last_error = error
            health.missed_reads += reads
            health.dropped_writes += len(written)
            if health.group and not health.failures and not health.out:
                self._keys_at_risk(health)
            if not health.wipe_needed:
                health.pending.update(written)
                if len(health.pending) > PENDING_KEY_LIMIT:
                    health.pending.clear()
                    health.wipe_needed = True
            if not health.out:
                health.failures += 1
                if health.failures >= self.options.failure_threshold:
                    ejected = True
                    self._go_out(health, now)
                    health.events.append(
                        (
                            time.time(),
                            "ejected",
                            f"{health.failures} failures, {type(error).__name__}",
                        )
                    )
            health.refresh()
            failures = health.failures
        self._refresh_all()
        notify(
            "accord_node_failed",
            source=self.source,
            node=node,
            error=error,
            failures=failures if not health.out or ejected else 0,
        )
        if ejected:
            retry = health.retry_at - now
            logger.warning(
                "cache %s: node %s is out of service after %d failures (%s); probing again in "
                "%.1f s",
                self.source,
                node,
                failures,
                type(error).__name__,
                retry,
            )
            notify(
                "accord_node_ejected",
                source=self.source,
                node=node,
                error=error,
                failures=failures,
                retry_after=retry,
            )
        elif failures == 1:
            logger.warning(
                "cache %s: node %s failed (%s); the call missed",
                self.source,
                node,
                type(error).__name__,
            )

    def _keys_at_risk(self, health: NodeHealth) -> None:
        """A group's first failure: its recent writes may be missing on a promoted replica."""
        journal = health.journal
        since = health.last_success - self.options.replication_window
        if len(journal) == journal.maxlen and journal[0][0] >= since:
            health.wipe_needed = True  # too many to remember: the window is incomplete
        else:
            health.pending.update(key for stamp, key in journal if stamp >= since)
        journal.clear()

    def _go_out(self, health: NodeHealth, now: float) -> None:
        health.out = True
        health.ejections += 1
        health.out_since = now
        health.out_since_wall = time.time()
        if health.group:
            health.retry_at = now + self.options.group_retry_after
        else:
            health.retry_at = now + self.options.retry_after
            health.pending.clear()  # the readmission wipes the node
            health.wipe_needed = True
            health.epochs = {}
            health.baseline_needed = self.eject

    def refused(self, home: str, stand_in: str, current: str) -> None:
        """A stand-in refused a copy: *home* was readmitted by someone (marker *current*)."""
        health = self.health[home]
        with health.lock:
            if health.epochs.get(stand_in) != current:
                health.epochs[stand_in] = current  # the copies of a new epoch are new keys
                health.retry_at = self.clock()  # probe now: it answers somewhere
        logger.info("cache %s: node %s was readmitted elsewhere; probing it", self.source, home)

    def _refresh_all(self) -> None:
        self.all_ok = all(h.ok for h in self.health.values())

    # ------------------------------------------------------------------ repairs

    def claim_repairs(self, nodes: Iterable[str] | None = None) -> list[Repair]:
        """The repairs due on *nodes* (all by default) before they serve; claims them.

        A claimed repair must be reported with :meth:`repair_done`.
        """
        if self.all_ok:
            return []
        now = self.clock()
        repairs = []
        for name in self.names if nodes is None else dict.fromkeys(nodes):
            health = self.health[name]
            if health.ok or health.probing:
                continue
            with health.lock:
                repair = None if health.probing else self._repair_for(health, now)
                if repair is not None:
                    health.probing = True
                    repairs.append(repair)
        return repairs

    def _repair_for(self, health: NodeHealth, now: float) -> Repair | None:
        name = health.name
        others = [n for n in self.names if n != name]
        if health.out and health.baseline_needed and others:
            batch = {other: [("GET", self._markers[name])] for other in others}
            return Repair(name, "baseline", (Step("batch", batch),))
        if health.out and now < health.retry_at:
            return None
        if health.out and not health.group:
            token = uuid.uuid4().hex
            markers: dict[str, list[Command]] = {
                other: [("SET", self._markers[name], token)] for other in others
            }
            copies: dict[str, list[Command]] = {
                other: _chunked_deletes(keys) for other, keys in health.copies.items() if keys
            }
            steps = [Step("wipe", {name: []}), Step("batch", markers)]
            if copies:
                steps.append(Step("batch", copies))
            return Repair(name, "readmit", tuple(steps))
        if health.wipe_needed:
            return Repair(name, "wipe", (Step("wipe", {name: []}),))
        if health.out:
            return Repair(name, "probe", (Step("batch", {name: [("PING",)]}),))
        return None

    def repair_done(self, repair: Repair, results: Sequence[dict[str, Any]]) -> None:
        """Report what the executor got for each step of *repair* (replies or an exception)."""
        health = self.health[repair.node]
        first = results[0].get(repair.node) if results else None
        if repair.kind == "baseline":
            with health.lock:
                for other, reply in results[0].items():
                    if not isinstance(reply, BaseException):
                        value = reply[0]
                        health.epochs[other] = value.decode() if isinstance(value, bytes) else ""
                health.baseline_needed = False
                health.probing = False
            return
        if isinstance(first, BaseException) or (not results and repair.kind != "baseline"):
            with health.lock:
                health.retry_at = self.clock() + (
                    self.options.group_retry_after if health.group else self.options.retry_after
                )
                health.last_error = first if isinstance(first, BaseException) else None
                health.probing = False
            if not health.out:
                self.failed(repair.node, first or ConnectionError("repair failed"))
            return
        self.readmitted(repair)

    def readmitted(self, repair: Repair) -> None:
        """The repair succeeded: *repair.node* is in service again."""
        health = self.health[repair.node]
        now = self.clock()
        was_out = health.out
        with health.lock:
            downtime = now - health.out_since
            health.out = False
            health.failures = 0
            health.wipe_needed = False
            if repair.kind in ("readmit", "wipe"):
                health.pending.clear()
            health.copies = {}
            health.copy_count = 0
            health.epochs = {}
            health.last_success = now
            health.probing = False
            if was_out:
                health.events.append((time.time(), "readmitted", f"out {downtime:.1f} s"))
            health.refresh()
        self._refresh_all()
        if was_out:
            logger.warning("cache %s: node %s is back in service", self.source, repair.node)
            notify("accord_node_restored", source=self.source, node=repair.node, downtime=downtime)

    def mark_wipe_needed(self, node: str) -> None:
        """A wipe of *node* failed (e.g. in ``clear()``): wipe it before its next use."""
        health = self.health[node]
        with health.lock:
            health.pending.clear()
            health.wipe_needed = True
            health.refresh()
        self._refresh_all()


def _chunked_deletes(keys: Iterable[str], size: int = 1000) -> list[Command]:
    """``DEL`` commands of at most *size* keys each (one huge command would block Redis)."""
    ordered = sorted(keys)
    return [("DEL", *ordered[i : i + size]) for i in range(0, len(ordered), size)]
