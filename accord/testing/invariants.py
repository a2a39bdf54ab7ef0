"""The invariants of a lock, checked on a recorded :class:`~accord.testing.history.History`.

Failure behaviour first: every check returns a list of findings, sentences
that say what went wrong, when and who; an empty list means the invariant
held. Nothing here raises on a bad history except :class:`KeyError` for an
event without ``event``, ``client`` or ``at``.

The events a lock's clients record (any client; the harness records the
fault events):

========================  ==========================================================
event                     meaning (extra fields)
========================  ==========================================================
``acquiring``             the client starts to wait for the lock
``acquired``              it holds the lock (``token``)
``gave-up``               its acquire timed out; it holds nothing
``acquire-failed``        its acquire raised (``error``); a lease may have been left
``lost``                  it learnt its lease was lost (``reason``)
``fenced``                the store refused its write (``token``): a stale holder
``releasing``             it stops using the lock and calls release
``released``              the server confirmed it held the lock until then
``release-failed``        release raised (``error``): it was lost, or unconfirmed
``fault`` / ``healed``    a fault hit this client (``kind``; ``frozen=True``: its whole
                          process was stopped), and ended
``killed``                the client's process was killed
========================  ==========================================================

The three invariants of a lock, for every backend:

* **never two holders at once**, as a store that checks fencing tokens sees
  it: no token is issued to two clients (:func:`reused_tokens`); no release
  is confirmed while another client held the lock (:func:`late_notices`),
  and the store's accepted writes never go back
  (:func:`~accord.testing.history.check_fenced_writes`);
* **no lock held by nobody for longer than its lease**
  (:func:`unattended_waits`);
* **every loss noticed, with a reason, within one renewal interval**
  (:func:`late_notices`, :func:`unexplained_losses`).

:func:`check_lock` runs them all; :func:`check_singleton_runs` checks the
runs of singleton tasks. Singleton tasks, two-phase commit and the
cache reuse the pieces: the event log, the intervals and the "covered by"
logic are not lock-specific.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from accord.testing.history import Write, check_fenced_writes

__all__ = [
    "Hold",
    "check_lock",
    "check_singleton_runs",
    "holds",
    "late_notices",
    "reused_tokens",
    "unattended_waits",
    "unexplained_losses",
]

#: Events after which the client no longer uses the lock.
_STOPS = ("releasing", "lost", "released", "release-failed", "killed")


@dataclass(frozen=True)
class Hold:
    """A time a client believed it held the lock, from ``acquired`` to when it stopped."""

    client: str
    token: int | None
    start: float
    stop: float  # ``inf``: never stopped (the test ended first)
    stopped_by: str
    released: float | None  # when the server confirmed the release (``released``), if it did


def holds(events: Iterable[dict[str, Any]]) -> list[Hold]:
    """Each client's holds, in order of start."""
    current: dict[str, dict[str, Any]] = {}
    stopped: dict[str, tuple[float, str]] = {}
    found: list[Hold] = []
    for event in sorted(events, key=lambda e: e["at"]):
        client, kind = event["client"], event["event"]
        if kind == "acquired":
            current[client] = event
            stopped.pop(client, None)
        elif kind in _STOPS and client in current:
            stop, by = stopped.setdefault(client, (event["at"], kind))
            if kind in ("released", "release-failed", "lost", "killed"):
                began = current.pop(client)
                released = event["at"] if kind == "released" else None
                found.append(Hold(client, began.get("token"), began["at"], stop, by, released))
                stopped.pop(client)
    for client, began in current.items():
        stop, by = stopped.get(client, (math.inf, "never"))
        found.append(Hold(client, began.get("token"), began["at"], stop, by, None))
    return sorted(found, key=lambda h: h.start)


def reused_tokens(events: Iterable[dict[str, Any]]) -> list[str]:
    """Findings: a fencing token handed to two different clients."""
    owners: dict[int, str] = {}
    findings = []
    for event in sorted(events, key=lambda e: e["at"]):
        if event["event"] != "acquired" or event.get("token") is None:
            continue
        token, client = int(event["token"]), event["client"]
        first = owners.setdefault(token, client)
        if first != client:
            findings.append(f"token {token} was issued to {first} and again to {client}")
    return findings


def late_notices(events: Iterable[dict[str, Any]], *, within: float) -> list[str]:
    """Findings: a holder that kept believing it held the lock after another took it.

    For two holds that overlap in time, the one with the lower token is the
    stale one: it must stop within *within* seconds (one renewal interval,
    plus slack) of the other's start, or of its own start if it began later
    (a reply that arrived late), or of the end of a ``frozen`` fault on it
    (a stopped process notices nothing), and the server must not confirm a release it
    sent after the other took the lock (that would be two holders at once).
    """
    events = list(events)
    holds_ = holds(events)
    faults = _fault_windows(events, frozen=True)
    findings = []
    for i, first in enumerate(holds_):
        for second in holds_[i + 1 :]:
            held_until = max(first.stop, first.released or first.stop)  # until confirmed free
            if second.start >= held_until or first.client == second.client:
                continue
            if first.token is None or second.token is None:
                continue
            stale, fresh = (first, second) if first.token < second.token else (second, first)
            since = max(stale.start, fresh.start)
            for began, healed in faults.get(stale.client, ()):
                if began <= since + within:
                    since = max(since, healed)
            if stale.released is not None and stale.stop > fresh.start:
                findings.append(
                    f"{stale.client} (token {stale.token}) released at {stale.stop:.3f}, and the "
                    f"server confirmed it, after {fresh.client} (token {fresh.token}) had taken "
                    f"the lock at {fresh.start:.3f}: two holders at once"
                )
            elif stale.stop > since + within:
                findings.append(
                    f"{stale.client} (token {stale.token}) believed it held the lock until "
                    f"{stale.stop:.3f} ({stale.stopped_by}), {stale.stop - since:.3f} s after "
                    f"{fresh.client} (token {fresh.token}) had it: more than {within} s"
                )
    return findings


def _fault_windows(
    events: Iterable[dict[str, Any]], *, frozen: bool = False
) -> dict[str, list[tuple[float, float]]]:
    """Per client, the times a fault (a *frozen* one) was on it (never healed: to inf)."""
    windows: dict[str, list[tuple[float, float]]] = {}
    began: dict[str, float] = {}
    for event in sorted(events, key=lambda e: e["at"]):
        kind, client = event["event"], event["client"]
        if kind == "fault" and (event.get("frozen") or not frozen):
            began[client] = event["at"]
        elif kind == "healed" and client in began:
            windows.setdefault(client, []).append((began.pop(client), event["at"]))
    for client, at in began.items():
        windows.setdefault(client, []).append((at, math.inf))
    return windows


def unexplained_losses(events: Iterable[dict[str, Any]]) -> list[str]:
    """Findings: a ``lost`` event without a reason."""
    return [
        f"{e['client']} lost the lock at {e['at']:.3f} without a reason"
        for e in events
        if e["event"] == "lost" and not str(e.get("reason") or "").strip()
    ]


def _intervals(events: list[dict[str, Any]], lease: float) -> list[tuple[float, float]]:
    """When the lock may rightly be unavailable: held, or a lease left by a failure or fault."""
    spans = []
    for hold in holds(events):
        # Held until the server confirmed the release; after a failure, a lease it may still keep.
        spans.append((hold.start, hold.released if hold.released else hold.stop + lease))
    begun: dict[str, float] = {}
    for event in sorted(events, key=lambda e: e["at"]):
        kind, client = event["event"], event["client"]
        if kind == "acquiring":
            begun[client] = event["at"]
        elif kind == "acquire-failed":  # it may have taken the lock before failing
            spans.append((begun.pop(client, event["at"]), event["at"] + lease))
    for windows in _fault_windows(events).values():
        spans += [(began, healed + lease) for began, healed in windows]
    return sorted(spans)


def unattended_waits(events: Iterable[dict[str, Any]], *, lease: float, slack: float) -> list[str]:
    """Findings: someone waited while nobody held the lock, for more than *slack* seconds.

    The lock may rightly stay unavailable while a client holds it, and for
    *lease* seconds after a holder failed (lost it, could not release it,
    was killed), after an acquire failed, or after a fault on a client
    healed: a lease the server may still keep. Outside those times a waiting
    client must get the lock within *slack* (a hand-over, scheduling).
    """
    events = sorted(events, key=lambda e: e["at"])
    covered = _intervals(events, lease)
    findings = []
    waiting: dict[str, float] = {}
    for event in events:
        kind, client = event["event"], event["client"]
        if kind == "acquiring":
            waiting[client] = event["at"]
        elif kind in ("acquired", "gave-up", "acquire-failed") and client in waiting:
            start, end = waiting.pop(client), event["at"]
            gap = _longest_uncovered(start, end, covered)
            if gap > slack:
                findings.append(
                    f"{client} waited from {start:.3f} to {end:.3f} ({kind}) while nobody held "
                    f"the lock for {gap:.3f} s (lease {lease} s, slack {slack} s)"
                )
    return findings


def _longest_uncovered(start: float, end: float, covered: list[tuple[float, float]]) -> float:
    longest, cursor = 0.0, start
    for begin, stop in covered:
        if stop <= cursor:
            continue
        if begin >= end:
            break
        longest = max(longest, min(begin, end) - cursor)
        cursor = max(cursor, stop)
        if cursor >= end:
            return longest
    return max(longest, end - cursor)


def check_lock(
    events: Iterable[dict[str, Any]],
    writes: Iterable[Write] = (),
    *,
    lease: float,
    interval: float,
    slack: float,
) -> list[str]:
    """Every invariant of a lock on one history: an empty list means they all held.

    :param lease: how long a holder's lease may outlive it (``ttl``; the
        ZooKeeper session timeout; a small allowance on ``file://``).
    :param interval: the renewal interval (``ttl / 3``) within which a loss
        must be noticed.
    :param slack: scheduling noise allowed on top of either.
    """
    events = list(events)
    return [
        *reused_tokens(events),
        *late_notices(events, within=interval + slack),
        *unexplained_losses(events),
        *unattended_waits(events, lease=lease, slack=slack),
        *check_fenced_writes(writes),
    ]


def check_singleton_runs(events: Iterable[dict[str, Any]], writes: Iterable[Write]) -> list[str]:
    """Findings about the runs of singleton tasks; empty when one run per key really held.

    *events*: ``run-started`` (``key``, ``task_id``, ``token``) when a body
    starts and ``run-finished`` (``key``, ``task_id``, ``outcome``:
    ``"success"`` or ``"error"``) when it ends, one ``client`` per run. A
    run that never finished (its process was killed) has no end to compare
    and is left out of the overlap check. *writes*: what each run offered a
    :class:`~accord.testing.history.FencedStore` (resource = the key) with
    its token, at its start and its end.

    * no two runs of one key overlap;
    * the store refused no write: every run's token was greater than any
      earlier run's of its key (and the accepted writes never go back);
    * no body of a task id starts after a run of that task id succeeded.
    """
    started: dict[str, dict[str, Any]] = {}
    finished: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["event"] == "run-started":
            started[event["client"]] = event
        elif event["event"] == "run-finished":
            finished[event["client"]] = event
    findings = []
    by_key: dict[str, list[tuple[float, float, str]]] = {}
    for client, end in finished.items():
        start = started.get(client)
        if start is not None:
            by_key.setdefault(start["key"], []).append((start["at"], end["at"], client))
    for key, runs in by_key.items():
        runs.sort()
        for (_, first_end, first), (second_start, _, second) in itertools.pairwise(runs):
            if second_start < first_end:
                findings.append(
                    f"{key}: run {second} started {first_end - second_start:.3f} s before "
                    f"run {first} ended"
                )
    for write in writes:
        if not write.accepted:
            findings.append(
                f"{write.resource}: the store refused token {write.token} of run {write.client}"
            )
    findings.extend(check_fenced_writes(writes))
    succeeded = {
        end["task_id"]: end["at"] for end in finished.values() if end.get("outcome") == "success"
    }
    for client, start in started.items():
        done = succeeded.get(start["task_id"])
        if done is not None and start["at"] > done:
            findings.append(
                f"task {start['task_id']}: run {client} started {start['at'] - done:.3f} s "
                "after the task succeeded"
            )
    return findings
