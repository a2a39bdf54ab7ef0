"""The lock fault matrix: each operation of a backend hit by each fault, invariants checked.

Failure behaviour first: :func:`run_case` never raises for what the lock
does; it returns a :class:`Report` whose ``findings`` list every broken
invariant (empty: all held). It raises :class:`RuntimeError` only when the
harness itself cannot run (a thread that never ends).

A case is a short scenario between a **victim** (whose requests the fault
hits) and a **rival**, then a **probe** that must get the lock afterwards,
all recording into one :class:`~accord.testing.history.History` and
writing with their tokens to one :class:`~accord.testing.history.FencedStore`:

=============  ====================================================================
operation      the victim ...
=============  ====================================================================
``acquire``    takes the free lock (the fault hits its acquire); the rival wants it too
``renew``      holds the lock over several renewals (the fault hits one)
``release``    releases while nobody waits (the fault hits the release)
``wait``       waits while the rival holds it (the fault hits its wait)
``hand-over``  releases while the rival waits (the fault hits the release that hands over)
=============  ====================================================================

Each runs with each fault of :data:`~accord.testing.matrix.FAULTS`, a pause
being :attr:`LockTarget.pause` long (longer than the lease). The findings
come from :func:`accord.testing.invariants.check_lock`.

A :class:`~accord.testing.lock_targets.LockTarget` (made in
:mod:`accord.testing.lock_targets`, importable from here) says how to make
the victim's and the others' locks and how to aim a fault: ``redis_target``
and ``zookeeper_target`` go through a
:class:`~accord.testing.faults.FaultProxy`, ``memory_target`` and
``file_target`` through :class:`~accord.testing.matrix.CallFaults`. A
plugin's backend gets its own target and runs the same matrix.
:func:`run_paused_holder` adds the process fault: a holder frozen (SIGSTOP)
past its lease while a rival takes the lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.core.errors import LockError, LockLost
from accord.core.lock.renewer import describe
from accord.testing.errors import HarnessTimeout
from accord.testing.history import FencedStore, History
from accord.testing.invariants import check_lock
from accord.testing.lock_targets import (
    NAME,
    SLACK,
    LockTarget,
    file_target,
    memory_target,
    plain_target,
    redis_target,
    zookeeper_target,
)
from accord.testing.process import paused

__all__ = [
    "NAME",
    "OPERATIONS",
    "SLACK",
    "LockTarget",
    "Report",
    "file_target",
    "memory_target",
    "redis_target",
    "run_case",
    "run_paused_holder",
    "zookeeper_target",
]

#: The operations every backend is faulted in.
OPERATIONS = ("acquire", "renew", "release", "wait", "hand-over")
_RESOURCE = "resource"


@dataclass
class Report:
    """What one case did: its findings (empty: every invariant held) and its history."""

    findings: list[str]
    fired: int
    events: list[dict[str, Any]] = field(repr=False)

    def explain(self) -> str:
        """The findings, then the history, for an assertion message."""
        lines = [*self.findings, "history:"]
        lines += [f"  {e['at']:.3f} {e['client']} {e['event']} {_extra(e)}" for e in self.events]
        return "\n".join(lines)


def _extra(event: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in event.items() if k not in ("at", "client", "event"))


class _Client:
    """One lock user: records what it does and writes with its token."""

    def __init__(self, name: str, target: LockTarget, victim: bool, work: Path) -> None:
        self.name = name
        self.patience = target.lease + target.pause + SLACK
        self.history = History(work / "history")
        self.store = FencedStore(work / "store")
        self.lock = target.make(victim, self._lost)

    def _lost(self, lock: Any, reason: str) -> None:
        self.history.record("lost", self.name, reason=reason)

    def acquire(self, timeout: float) -> bool:
        self.history.record("acquiring", self.name)
        try:
            got = self.lock.acquire(timeout=timeout)
        except LockError as error:
            self.history.record("acquire-failed", self.name, error=describe(error))
            return False
        if got:
            self.history.record("acquired", self.name, token=self.lock.token)
        else:
            self.history.record("gave-up", self.name)
        return got

    def work(self, seconds: float) -> bool:
        """Write every 50 ms for *seconds* while it holds the lock; False once it learnt of a loss.

        A write the store refuses (fencing caught a stale holder) is recorded
        as ``fenced``; the client then waits for the lock itself to report the
        loss, which is what the invariant measures.
        """
        end = time.monotonic() + seconds
        while True:
            if not self._held():
                return False
            if not self.store.write(_RESOURCE, self.lock.token, self.name):
                self.history.record("fenced", self.name, token=self.lock.token)
                deadline = time.monotonic() + self.patience
                while self._held() and time.monotonic() < deadline:
                    time.sleep(0.02)
                return False
            if time.monotonic() >= end:
                return True
            time.sleep(0.05)

    def _held(self) -> bool:
        try:
            self.lock.ensure_held()
        except LockLost as lost:
            self.history.record("lost", self.name, reason=str(lost))
            return False
        return True

    def release(self) -> None:
        self.history.record("releasing", self.name)
        try:
            self.lock.release()
        except LockError as error:
            self.history.record("release-failed", self.name, error=describe(error))
        else:
            self.history.record("released", self.name)

    def use(self, timeout: float, seconds: float) -> None:
        if self.acquire(timeout):
            self.work(seconds)
            self.release()


@contextmanager
def _threads() -> Iterator[Callable[..., None]]:
    started: list[threading.Thread] = []

    def start(function: Callable[..., object], *args: Any) -> None:
        thread = threading.Thread(target=function, args=args, daemon=True)
        thread.start()
        started.append(thread)

    yield start
    for thread in started:
        thread.join(60)
        if thread.is_alive():
            raise HarnessTimeout("a client of the fault matrix did not finish within 60 s")


def _watch_fault(target: LockTarget, history: History, kind: str, stop: threading.Event) -> None:
    """Record when the armed fault fires (``fault``) and when its effect ends (``healed``)."""
    while target.fired() == 0 and not stop.wait(0.01):
        pass
    if target.fired():
        history.record("fault", "victim", kind=kind)
        if kind == "pause":
            time.sleep(target.pause)
        history.record("healed", "victim", kind=kind)


def run_case(target: LockTarget, operation: str, fault: str, work: str | Path) -> Report:
    """Run one case of the matrix in directory *work* (empty) and check the invariants."""
    work = Path(work)
    history = History(work / "history")
    victim, rival = _Client("victim", target, True, work), _Client("rival", target, False, work)
    wait = target.pause + target.lease + 5
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_fault, args=(target, history, fault, stop))
    watcher.start()
    try:
        with _threads() as start:
            if operation == "acquire":
                target.aim("acquire", fault, target.pause)
                start(victim.use, wait, 0.3)
                time.sleep(0.05)
                start(rival.use, wait, 0.3)
            elif operation in ("renew", "release"):
                if victim.acquire(wait):
                    if operation == "renew":
                        target.aim("renew", fault, target.pause)
                        start(rival.use, wait, 0.3)
                        victim.work(target.ttl + target.pause)
                        victim.release()
                    else:
                        victim.work(0.1)
                        target.aim("release", fault, target.pause)
                        start(victim.release)
                        time.sleep(0.05)
                        start(rival.use, wait, 0.3)
            elif operation == "wait":
                if rival.acquire(wait):
                    target.aim("wait", fault, target.pause)
                    start(victim.use, wait, 0.3)
                    rival.work(0.5)
                    rival.release()
            else:  # hand-over
                if victim.acquire(wait):
                    start(rival.use, wait, 0.3)
                    victim.work(0.4)
                    target.aim("hand-over", fault, target.pause)
                    victim.release()
    finally:
        stop.set()
        watcher.join()
        target.heal()
    _Client("probe", target, False, work).use(wait, 0.05)
    events = history.events()
    findings = check_lock(
        events,
        FencedStore(work / "store").writes(),
        lease=target.lease,
        interval=target.ttl / 3,
        slack=SLACK,
    )
    if target.fired() == 0:
        findings.append(f"the {fault} fault on {operation} never fired: the case tested nothing")
    return Report(findings, target.fired(), events)


def run_paused_holder(
    url: str, options: dict[str, Any], work: str | Path, *, ttl: float, lease: float
) -> Report:
    """A holder in another process, frozen with SIGSTOP for 1.5 leases while a rival wants the lock.

    The holder writes every 50 ms; when it runs again it must learn of the
    loss (if the lease ended) before its writes do harm.
    """
    work = Path(work)
    history = History(work / "history")
    store = work / "store"
    FencedStore(store)
    argv = [sys.executable, "-m", "accord.testing.lock_matrix", url, json.dumps(options)]
    holder = subprocess.Popen([*argv, str(ttl), str(work)], stdout=subprocess.PIPE, text=True)
    target = plain_target(url, options, ttl, lease)
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "held":
            return Report(["the holder process never took the lock"], 0, history.events())
        time.sleep(0.2)
        with _threads() as start:
            history.record("fault", "holder", kind="process paused", frozen=True)
            with paused(holder.pid, target.pause):
                start(_Client("rival", target, False, work).use, target.pause + lease + 5, 0.3)
            history.record("healed", "holder", kind="process paused")
            time.sleep(target.ttl / 3 + 0.3)  # it learns of the loss, or holds on
            holder.terminate()  # it releases (if it still holds) and exits
            holder.wait(30)
    finally:
        holder.kill()
        holder.wait()
    _Client("probe", target, False, work).use(lease + 5, 0.05)
    events = history.events()
    findings = check_lock(
        events, FencedStore(store).writes(), lease=lease, interval=ttl / 3, slack=SLACK
    )
    return Report(findings, 1, events)


def _hold(url: str, options: dict[str, Any], ttl: float, work: Path) -> None:
    """The holder process of :func:`run_paused_holder`: hold and write until SIGTERM."""
    import signal

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    target = plain_target(url, options, ttl, ttl)
    client = _Client("holder", target, False, work)
    if not client.acquire(30):
        return
    print("held", flush=True)
    while not stopping.is_set() and client.work(0.05):
        pass
    client.release()


if __name__ == "__main__":  # pragma: no cover - the holder process
    _hold(sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
