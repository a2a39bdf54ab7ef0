"""Tools for operators: the in-doubt report, and heuristic decisions by hand.

Failure behaviour first: :func:`in_doubt_report` never raises for one
participant (those it cannot scan are in :attr:`InDoubtReport.unreachable`).
:func:`decide_by_hand` raises :class:`~accord.core.errors.ConfigurationError`
for text that is not an accord xid, and
:class:`~accord.core.errors.DecisionConflict` (nothing changed) when the log
records the opposite decision, when asked to commit an undecided transaction
without ``force``, or when its decision cannot be recorded (a coordinator is
writing its own right now, or it began before the purge horizon).

A heuristic decision is what Narayana and Atomikos call one: a person decides
instead of the protocol. accord records it in the decision log, durably and
marked as an operator's, *before* touching any branch, so that recovery, a
coordinator still running, and later reports all follow it. A commit decided
by hand for a transaction that never recorded one is only right if every
database that wrote has its branch prepared: a coordinator that died before
the decision may have prepared only some of them, and a database that held the
decision log (the logging last resource) is never prepared at all, so its
writes were already rolled back. That is why it needs ``force``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from accord.core.errors import ConfigurationError, DecisionConflict
from accord.core.tpc.contract import ABORT, COMMIT, OPERATOR, Decision, DecisionLog, Participant
from accord.core.tpc.recovery import RecoveryReport, finish, scan
from accord.core.tpc.xid import Xid, parse_xid

__all__ = ["InDoubtReport", "InDoubtTransaction", "decide_by_hand", "in_doubt_report"]


@dataclass(frozen=True)
class InDoubtTransaction:
    """One global transaction with prepared branches, as an operator needs to see it.

    ``branches`` are ``(alias, gid)`` pairs; ``age`` is seconds since the
    oldest branch was prepared (or first seen, on MySQL). ``decision`` is
    ``"commit"``, ``"abort"`` or None; ``decided_by`` says who recorded it
    (``"coordinator"``, ``"recovery"``, ``"operator"``); ``participants`` are
    the aliases the record names (all that took part), empty without one.
    ``next_step`` says what recovery will do.
    """

    xid: str
    node: str
    age: float
    branches: tuple[tuple[str, str], ...]
    decision: Decision | None
    decided_by: str | None
    participants: tuple[str, ...]
    next_step: str


@dataclass
class InDoubtReport:
    """Every in-doubt transaction of this log, and the databases that could not be scanned."""

    transactions: list[InDoubtTransaction] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    foreign: int = 0


def _parse(text: str) -> Xid:
    xid = parse_xid(text)
    if xid is None:
        raise ConfigurationError(
            f"{text!r} is not an accord transaction id; expected 'accord:<node>:<32 hex digits>'"
        )
    return xid


def in_doubt_report(
    participants: Sequence[Participant], log: DecisionLog, *, nodes: Collection[str], delay: float
) -> InDoubtReport:
    """The in-doubt transactions of *nodes*, oldest first; changes nothing but sightings."""
    found = scan(participants, log.identity(), nodes)
    report = InDoubtReport(unreachable=found.unreachable, foreign=found.foreign)
    now = time.time()
    for xid, branches in found.found.items():
        known = [d.prepared_at for _, d in branches if d.prepared_at is not None]
        if len(known) < len(branches):
            known.append(log.sightings([xid]).get(xid, now))
        age = max(0.0, now - min(known))
        record = log.lookup(xid)
        if record is not None:
            next_step = f"{'commit' if record.decision == COMMIT else 'roll back'} on the next run"
        elif age < delay:
            next_step = f"wait for its coordinator, then roll back after {delay - age:.0f}s more"
        else:
            next_step = "roll back (fence) on the next run"
        report.transactions.append(
            InDoubtTransaction(
                xid=str(xid),
                node=xid.node,
                age=age,
                branches=tuple((p.alias, d.branch.gid) for p, d in branches),
                decision=record.decision if record else None,
                decided_by=record.source if record else None,
                participants=record.participants if record else (),
                next_step=next_step,
            )
        )
    report.transactions.sort(key=lambda t: -t.age)
    return report


def decide_by_hand(
    text: str,
    decision: Decision,
    participants: Sequence[Participant],
    log: DecisionLog,
    *,
    force: bool = False,
    wait: float = 2.0,
) -> RecoveryReport:
    """Record an operator's *decision* for the xid *text*, then carry it out on every branch.

    See the module docstring for what is refused. The report lists each branch
    found prepared (any node's), and the databases that could not be scanned
    (their branches are left to recovery, which follows the recorded decision).
    """
    xid = _parse(text)
    if decision not in (COMMIT, ABORT):
        raise ConfigurationError(f"decision {decision!r} is invalid; expected 'commit' or 'abort'")
    found = scan(participants, log.identity(), [xid.node])
    branches = found.found.get(xid, [])
    record = log.lookup(xid)
    if record is None and decision == COMMIT and not force:
        raise DecisionConflict(
            f"{text} has no recorded decision; committing it by hand is right only if every "
            "database that wrote has its branch prepared (a coordinator that died before "
            "deciding may have prepared only some, and the decision-log database is never "
            "prepared). Check, then repeat with --force; or roll it back (--rollback)"
        )
    if record is None:
        aliases = sorted({p.alias for p, _ in branches})
        record = log.decide(xid, decision, source=OPERATOR, participants=aliases, wait=wait)
        if record is None:
            raise DecisionConflict(
                f"could not record {decision} for {text}: its coordinator is writing a decision "
                "right now, or it began before the purge horizon; look again with --list"
            )
    if record.decision != decision:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        raise DecisionConflict(
            f"refused: the log records {record.decision} for {text} (by {record.source}, "
            f"at {when}); a heuristic {decision} would contradict it. Nothing was changed"
        )
    reason = f"heuristic decision by an operator: {decision}"
    if record.source != OPERATOR:
        reason = f"the log records {record.decision} (by {record.source})"
    report = RecoveryReport(unreachable=found.unreachable, foreign=found.foreign)
    now = time.time()
    for participant, doubt in branches:
        age = now - doubt.prepared_at if doubt.prepared_at is not None else 0.0
        report.resolutions.append(finish(xid, participant, doubt, record, reason, age))
    return report
