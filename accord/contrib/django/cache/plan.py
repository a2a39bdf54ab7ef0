"""What the router decides, as data the two executors (sync and async) carry out.

A call is planned in two parts: :class:`Repair` objects that must run before
it (each a sequence of :class:`Step`), then a :class:`Call`: the commands to
send per node and how to read the replies back. Neither holds a connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["Call", "Command", "Repair", "Route", "Step"]

#: A Redis command: its name and arguments.
Command = tuple[Any, ...]


class Route(NamedTuple):
    """Where one key goes now.

    ``node`` is None when no node may serve it (a miss). ``epoch`` is set when
    ``node`` is a stand-in for ``home``: the copy is named for that outage and
    the write is guarded by ``home``'s readmission marker. ``purge``: the key
    is pending on ``node`` and is deleted there first, in the same round trip.
    """

    node: str | None
    home: str
    epoch: str | None
    purge: bool


class Step(NamedTuple):
    """One round of a repair: ``"batch"`` (commands per node) or ``"wipe"`` (nodes to empty)."""

    kind: str
    batches: dict[str, list[Command]]


@dataclass(frozen=True)
class Repair:
    """What *node* needs before it serves: ``baseline``, ``readmit``, ``wipe`` or ``probe``.

    The executor runs the steps in order, stops at the first step whose
    ``node`` slot failed, and reports every step's results to
    :meth:`~accord.contrib.django.cache.router.Router.repair_done`.
    """

    node: str
    kind: str
    steps: tuple[Step, ...]


@dataclass
class Call:
    """One API call reduced to data: commands per node, and what to make of the replies.

    ``finish`` receives, per node, the list of replies (a Redis error reply
    as an exception instance in its place) or the connection error that
    stopped the node; it records the outcome with the router and returns the
    call's result (or raises under ``failover="raise"``).
    """

    batches: dict[str, list[Command]]
    finish: Callable[[dict[str, Any]], Any]
    nodes: list[str] = field(default_factory=list)
