"""Recorded histories and the invariants checked on them: a fenced store, critical sections.

A fault test does not trust what a client believes; it records what happened
and checks an invariant afterwards. Two pieces, both shared between
processes through files (appends and ``flock``), so that clients in several
processes, some of them killed, write to one history:

- :class:`FencedStore`: the resource a lock protects, as a fencing-aware
  store sees it. A write carries the writer's fencing token and is refused
  when the token is **not greater** than the last token the store accepted
  from another holder (the holder that wrote last may write again with the
  same token). Every write, accepted or refused, is logged.
- :class:`History`: an append-only log of events (``acquiring``,
  ``acquired``, ``released``, ``lost``, ...) with ``time.monotonic()``
  timestamps, which are comparable across the processes of one machine.

:func:`overlapping_sections` and :func:`check_fenced_writes` turn them into
findings: an empty list means the invariant held.

Failure behaviour: only :class:`OSError` from the files, raised to the caller.
This module imports no test framework and no optional dependency.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FencedStore",
    "History",
    "Section",
    "Write",
    "check_fenced_writes",
    "critical_sections",
    "overlapping_sections",
]


@dataclass(frozen=True)
class Write:
    """One write offered to a :class:`FencedStore`."""

    resource: str
    token: int
    client: str
    at: float
    accepted: bool
    data: Any = None


class FencedStore:
    """A store that refuses stale fencing tokens, shared by every process that opens ``path``.

    ``path`` is a file (created if missing). :meth:`write` is atomic across
    processes (``flock``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.touch()

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, resource: str, token: int, client: str, data: Any = None) -> bool:
        """Offer a write; True if accepted, False if refused as stale.

        Refused when ``token`` is lower than the last accepted token for
        ``resource``, or equal to it but from another ``client``.
        """
        with self._locked() as handle:
            handle.seek(0)
            last: Write | None = None
            for line in handle:
                write = Write(**json.loads(line))
                if write.resource == resource and write.accepted:
                    last = write
            accepted = (
                last is None
                or token > last.token
                or (token == last.token and client == last.client)
            )
            record = Write(resource, token, client, time.monotonic(), accepted, data)
            handle.seek(0, os.SEEK_END)
            handle.write(json.dumps(record.__dict__) + "\n")
            handle.flush()
        return accepted

    def writes(self, resource: str | None = None) -> list[Write]:
        """Every write offered so far (of ``resource``, or all), in order."""
        with self._locked() as handle:
            handle.seek(0)
            found = [Write(**json.loads(line)) for line in handle]
        return [w for w in found if resource is None or w.resource == resource]


class History:
    """An append-only event log shared by every process that opens ``path``.

    Each event is a dict with ``event``, ``client``, ``at`` (``time.monotonic()``)
    and whatever fields the caller adds (``token``, ``reason``...).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.touch()

    def record(self, event: str, client: str, **fields: Any) -> None:
        """Append one event, stamped now. One ``write`` of one line: atomic with O_APPEND."""
        line = json.dumps({"event": event, "client": client, "at": time.monotonic(), **fields})
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def events(self) -> list[dict[str, Any]]:
        """Every event so far, in the order written (a torn last line is skipped)."""
        found = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found


@dataclass(frozen=True)
class Section:
    """A time a client believed it held a lock: from ``acquired`` to its end."""

    client: str
    token: int | None
    start: float
    end: float  # ``inf`` if it never ended (the client was killed, or the test stopped)
    ended_by: str


def critical_sections(
    events: Iterable[dict[str, Any]],
    *,
    start: str = "acquired",
    ends: tuple[str, ...] = ("released", "lost", "release-failed"),
) -> list[Section]:
    """Pair each ``start`` event of a client with the next of its ``ends`` events."""
    open_sections: dict[str, dict[str, Any]] = {}
    sections = []
    for event in sorted(events, key=lambda e: e["at"]):
        client = event["client"]
        if event["event"] == start:
            open_sections[client] = event
        elif event["event"] in ends and client in open_sections:
            began = open_sections.pop(client)
            sections.append(
                Section(client, began.get("token"), began["at"], event["at"], event["event"])
            )
    for client, began in open_sections.items():
        sections.append(Section(client, began.get("token"), began["at"], float("inf"), "never"))
    return sorted(sections, key=lambda s: s.start)


def overlapping_sections(sections: Iterable[Section]) -> list[tuple[Section, Section]]:
    """Pairs of sections of different clients that overlap in time."""
    ordered = sorted(sections, key=lambda s: s.start)
    found = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.start >= first.end:
                break
            if second.client != first.client:
                found.append((first, second))
    return found


def check_fenced_writes(writes: Iterable[Write]) -> list[str]:
    """Findings about a store's accepted writes: tokens must never go down, per resource.

    (The store enforces this itself; the check proves the log agrees, and
    catches a store used without checking the result of :meth:`FencedStore.write`.)
    """
    last: dict[str, Write] = {}
    findings = []
    for write in writes:
        if not write.accepted:
            continue
        before = last.get(write.resource)
        if before is not None and (
            write.token < before.token
            or (write.token == before.token and write.client != before.client)
        ):
            findings.append(
                f"{write.resource}: token {write.token} from {write.client} accepted after "
                f"token {before.token} from {before.client}"
            )
        last[write.resource] = write
    return findings
