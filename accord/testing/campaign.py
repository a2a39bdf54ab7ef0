"""A Jepsen-style campaign: client processes take a lock under faults; the history is checked.

Failure behaviour first: :func:`run_scenario` raises ``RuntimeError`` when a
client process exits with an error of its own (its stderr in the message);
faults raise what their controls raise (``TimeoutError``, ``ServiceUnavailable``).
The findings are data, never exceptions: a :class:`ScenarioReport` says what
happened, and the caller (a test) decides what must be zero.

Each client (a separate process, so it can be paused with SIGSTOP or killed)
loops until the scenario ends: ``acquire`` (recorded as ``acquiring``, then
``acquired`` with the token, ``gave-up`` or ``acquire-failed``), a write of
``(token, client, time)`` to a :class:`~accord.testing.history.FencedStore`,
a short hold, a second write if it still believes it holds the lock, then
``release`` (``releasing``, then ``released`` or ``release-failed``). Loss
notices are recorded as ``lost`` with the reason. Meanwhile the harness
injects one kind of fault again and again (``fault``/``healed`` events).

What :func:`check` reads from the history (see :class:`ScenarioReport`):

* **overlaps**: two clients believed they held the lock at once;
* **unfenced overlaps**: of those, the ones in which the holder with the
  older token had a write *accepted* while the newer holder held the lock
  (the fence did not stop it: two holders acted);
* **fence refusals**: writes the store refused as stale;
* **token order**: the store's accepted tokens never go back;
* **open ends**: an acquire with no end (released, lost with a notice, or
  the client killed);
* **unavailability** after each fault: the longest gap between accepted
  writes from the fault (the first gap starts at the fault) until the next
  fault; a fault after which nothing was written counts until the end.

This module imports no test framework; it needs accord's lock and the
optional package of the engine under test.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.core.errors import ConfigurationError
from accord.testing.errors import HarnessError
from accord.testing.history import FencedStore, History, Write, check_fenced_writes
from accord.testing.invariants import holds
from accord.testing.process import pause_process, resume_process

__all__ = [
    "CAMPAIGN_SECONDS_ENV",
    "Clients",
    "ScenarioReport",
    "check",
    "run_scenario",
    "scenario_seconds",
    "table",
]

#: Seconds each scenario runs; unset: the short default (the suite's), e.g. 60 for the long run.
CAMPAIGN_SECONDS_ENV = "ACCORD_CAMPAIGN_SECONDS"
_RESOURCE = "account"


def scenario_seconds(default: float = 12.0) -> float:
    """How long each scenario runs: ``$ACCORD_CAMPAIGN_SECONDS`` or *default*."""
    value = os.environ.get(CAMPAIGN_SECONDS_ENV, "")
    try:
        seconds = float(value) if value else default
    except ValueError:
        raise ConfigurationError(
            f"{CAMPAIGN_SECONDS_ENV}={value!r} is invalid: expected seconds per scenario"
        ) from None
    if not seconds > 0:
        raise ConfigurationError(
            f"{CAMPAIGN_SECONDS_ENV}={value!r} is invalid: expected seconds > 0"
        )
    return seconds


@dataclass
class ScenarioReport:
    """What one scenario's history shows (see the module docstring)."""

    engine: str
    fault: str
    acquisitions: int = 0
    refusals: int = 0
    overlaps: int = 0
    unfenced_overlaps: int = 0
    faults: int = 0
    unavailability: list[float] = field(default_factory=list)
    unrecovered: int = 0  # faults after which no write was accepted before the end
    findings: list[str] = field(default_factory=list)  # token order, open ends

    @property
    def median_unavailability(self) -> float:
        """The median over the faults, in seconds (0 without faults)."""
        return statistics.median(self.unavailability) if self.unavailability else 0.0

    @property
    def max_unavailability(self) -> float:
        """The longest, in seconds (0 without faults)."""
        return max(self.unavailability, default=0.0)

    def row(self) -> str:
        """One line of :func:`table`."""
        return (
            f"| {self.engine} | {self.fault} | {self.faults} | {self.acquisitions} | "
            f"{self.refusals} | {self.overlaps} | {self.unfenced_overlaps} | "
            f"{self.median_unavailability:.2f} | {self.max_unavailability:.2f}"
            + (f" ({self.unrecovered} not recovered by the end)" if self.unrecovered else "")
            + " |"
        )


def table(reports: Sequence[ScenarioReport]) -> str:
    """The reports as a Markdown table (also valid reStructuredText-ish text for logs)."""
    header = (
        "| engine | fault | faults | acquisitions | fence refusals | overlaps | "
        "unfenced overlaps | median unavailability (s) | max unavailability (s) |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([header, *(report.row() for report in reports)])


class Clients:
    """The client processes of a scenario, for faults that act on clients."""

    def __init__(self, processes: list[subprocess.Popen[bytes]], names: list[str]) -> None:
        self.processes = processes
        self.names = names

    def pause(self, index: int) -> None:
        """SIGSTOP client *index* (returns once it is stopped)."""
        pause_process(self.processes[index].pid)

    def holder(self, history: History) -> int:
        """The index of the client that acquired last (most likely holding the lock now)."""
        for event in reversed(history.events()):
            if event["event"] == "acquired" and event["client"] in self.names:
                return self.names.index(event["client"])
        return 0

    def resume(self, index: int) -> None:
        """SIGCONT client *index*."""
        resume_process(self.processes[index].pid)


#: ``fault(history, clients)``: inject the fault once and heal it, recording both.
Fault = Callable[[History, Clients], None]


def run_scenario(
    engine: str,
    fault_name: str,
    url: str,
    options: dict[str, Any],
    fault: Fault,
    workdir: Path,
    *,
    seconds: float,
    clients: int = 4,
    ttl: float = 2.0,
    warmup: float = 2.0,
    pause_between: float = 1.5,
    recovery: float = 3.0,
) -> ScenarioReport:
    """Run *clients* processes on lock ``url`` for *seconds*, with *fault* repeated meanwhile.

    The first fault comes after *warmup*; each next one *pause_between* seconds
    after the previous healed, while at least that much time is left. The
    clients stop at the end, or *recovery* seconds after the last fault
    healed if that is later (a fault may outlast a short scenario).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    history = History(workdir / "history.jsonl")
    store_path = workdir / "store.jsonl"
    FencedStore(store_path)
    started = time.monotonic()
    until = started + seconds
    stop_file = workdir / "stop"
    stop_file.unlink(missing_ok=True)
    names = [f"client-{i}" for i in range(clients)]
    processes = []
    for name in names:
        spec = {
            "url": url,
            "options": options,
            "ttl": ttl,
            "client": name,
            "history": str(history.path),
            "store": str(store_path),
            "stop": str(stop_file),
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "accord.testing.campaign", json.dumps(spec)],
                stdout=subprocess.DEVNULL,
                stderr=open(workdir / f"{name}.err", "wb"),  # noqa: SIM115 - closed by the child
                start_new_session=True,
            )
        )
    group = Clients(processes, names)
    faults = 0
    try:
        time.sleep(max(0.0, started + warmup - time.monotonic()))
        while time.monotonic() < until - pause_between or not faults:
            fault(history, group)
            faults += 1
            time.sleep(pause_between)
        # A fault that outlasted the scenario still gets a moment to show the recovery.
        time.sleep(max(until - time.monotonic(), recovery - pause_between, 0.0))
        end = time.monotonic()
        stop_file.touch()
        for index in range(clients):
            group.resume(index)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                history.record("killed", names[processes.index(process)])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    failed = [
        (name, (workdir / f"{name}.err").read_text()[-1500:])
        for name, process in zip(names, processes, strict=True)
        if process.returncode not in (0, -9)
    ]
    if failed:
        raise HarnessError(f"client {failed[0][0]} failed:\n{failed[0][1]}")
    report = check(history.events(), FencedStore(store_path).writes(), engine, fault_name, end=end)
    report.faults = faults
    return report


def check(
    events: list[dict[str, Any]],
    writes: list[Write],
    engine: str,
    fault_name: str,
    *,
    end: float | None = None,
) -> ScenarioReport:
    """Read a scenario's history and store log into a :class:`ScenarioReport`.

    *end* is when the clients stopped (``time.monotonic()``); a fault after
    which no write was accepted until then counts as unavailable until *end*
    (and :attr:`ScenarioReport.unrecovered` counts it).
    """
    report = ScenarioReport(engine, fault_name)
    report.acquisitions = sum(1 for e in events if e["event"] == "acquired")
    report.refusals = sum(1 for w in writes if not w.accepted)
    report.findings += check_fenced_writes(writes)
    report.findings += _open_ends(events)
    accepted = sorted((w for w in writes if w.accepted), key=lambda w: w.at)
    found = holds(events)
    for i, first in enumerate(found):
        for second in found[i + 1 :]:
            if second.start >= first.stop:
                break
            if first.client == second.client or first.token is None or second.token is None:
                continue
            report.overlaps += 1
            stale, fresh = (first, second) if first.token < second.token else (second, first)
            during = (max(fresh.start, stale.start), min(fresh.stop, stale.stop))
            if any(
                w.client == stale.client
                and w.token == stale.token
                and during[0] <= w.at < during[1]
                for w in accepted
            ):
                report.unfenced_overlaps += 1
    marks = sorted(e["at"] for e in events if e["event"] == "fault" and e["client"] == "harness")
    times = [w.at for w in accepted]
    last = end if end is not None else max(times, default=0.0)
    for began, stop in zip(marks, [*marks[1:], last][: len(marks)], strict=True):
        after = [t for t in times if began <= t <= stop]
        if not after:
            report.unrecovered += 1
        window = [began, *after] if after else [began, stop]
        report.unavailability.append(max(b - a for a, b in itertools.pairwise(window)))
    return report


def _open_ends(events: list[dict[str, Any]]) -> list[str]:
    """Acquires with no end: neither released, nor lost with a notice, nor killed."""
    findings = []
    ends = ("released", "release-failed", "lost", "killed")
    last: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e["at"]):
        if event["event"] == "acquired":
            if event["client"] in last:
                findings.append(f"{event['client']} acquired again without ending {last}")
            last[event["client"]] = event
        elif event["event"] in ends:
            last.pop(event["client"], None)
    findings += [
        f"{client} acquired at {e['at']:.3f} (token {e.get('token')}) and never ended it"
        for client, e in last.items()
    ]
    return findings


# -- the client process ----------------------------------------------------------------


def _client(spec: dict[str, Any]) -> None:
    from accord.core.errors import LockError
    from accord.core.lock import Lock

    # Loss is recorded when the client looks (ensure_held), in its own order of events.
    client, stop = spec["client"], Path(spec["stop"])
    history, store = History(spec["history"]), FencedStore(spec["store"])
    rng = random.Random(client)

    def write(token: int) -> None:
        accepted = store.write(_RESOURCE, token, client, {"at": time.monotonic()})
        history.record("write" if accepted else "fenced", client, token=token)

    while not stop.exists():
        lock = Lock("campaign", spec["url"], ttl=spec["ttl"], options=spec["options"])
        history.record("acquiring", client)
        try:
            acquired = lock.acquire(timeout=2.0)
        except LockError as exc:
            history.record("acquire-failed", client, error=str(exc)[:300])
            time.sleep(0.1)
            continue
        if not acquired:
            history.record("gave-up", client)
            continue
        history.record("acquired", client, token=lock.token)
        write(lock.token)
        time.sleep(rng.uniform(0.01, 0.05))
        try:  # a careful client looks before it writes again; the fence does the rest
            lock.ensure_held()
        except LockError as exc:
            history.record("lost", client, token=lock.token, reason=str(exc)[:300])
        else:
            write(lock.token)
            history.record("releasing", client)
        try:
            lock.release()
        except LockError as exc:
            history.record("release-failed", client, error=str(exc)[:300])
        else:
            history.record("released", client)
        time.sleep(rng.uniform(0.0, 0.02))


if __name__ == "__main__":
    _client(json.loads(sys.argv[1]))
