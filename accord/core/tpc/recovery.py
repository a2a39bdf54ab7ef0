"""Recovery: finish the prepared branches a coordinator left behind, and fence it.

Failure behaviour first: :func:`recover` never raises for one branch it
cannot finish (the owner session still connected, a database down): that
branch is reported as ``"skipped"`` with the reason, and the next run tries
again. It raises only when it cannot work at all (the decision log is
unreachable); then nothing was changed that the log does not record.

For each global transaction of one of *nodes* with a prepared branch:

1. a recorded decision (``commit`` or ``abort``) is carried out on every branch;
2. without one, a transaction younger than *delay* is left alone (its
   coordinator may still be running); an older one is **fenced**: an abort
   row is inserted in the log, which the coordinator's own commit insert can
   no longer pass, so a coordinator that was merely slow cannot commit after
   recovery rolled back. If the coordinator won the race, its commit stands.

Only one worker runs at a time (the log's recovery lock); a second one
returns at once with :attr:`RecoveryReport.locked_out`. Two at once would do
no harm anyway: every step is idempotent and the log arbitrates.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from accord.core.errors import BranchBusy, ConfigurationError, OutcomeUnknown
from accord.core.plugins import notify
from accord.core.tpc.contract import COMMIT, Decision, DecisionLog, InDoubt, Participant
from accord.core.tpc.xid import Xid, parse_xid

__all__ = ["RecoveryReport", "Resolution", "find_in_doubt", "outcome", "recover"]


@dataclass(frozen=True)
class Resolution:
    """What recovery did (or, in a dry run, would do) with one prepared branch.

    ``action``: ``"committed"``, ``"rolled back"``, ``"already resolved"``,
    ``"skipped"``, ``"would commit"`` or ``"would roll back"``.
    """

    xid: str
    alias: str
    gid: str
    action: str
    reason: str
    age: float


@dataclass
class RecoveryReport:
    """Every branch recovery looked at; ``locked_out`` when another worker was running."""

    resolutions: list[Resolution] = field(default_factory=list)
    locked_out: bool = False
    purged: int = 0

    @property
    def unresolved(self) -> list[Resolution]:
        """The branches still prepared after this run."""
        return [r for r in self.resolutions if r.action == "skipped"]


Found = dict[Xid, list[tuple[Participant, InDoubt]]]


def find_in_doubt(participants: Sequence[Participant], nodes: Collection[str]) -> Found:
    """accord's prepared branches of *nodes*, per global xid, each branch once."""
    found: Found = {}
    seen: set[str] = set()
    for participant in participants:
        for doubt in participant.in_doubt():
            gid = doubt.branch.gid
            if doubt.branch.xid.node in nodes and gid not in seen:
                seen.add(gid)  # MySQL's XA RECOVER is server-wide: two aliases may list it
                found.setdefault(doubt.branch.xid, []).append((participant, doubt))
    return found


def recover(
    participants: Sequence[Participant],
    log: DecisionLog,
    *,
    nodes: Collection[str],
    delay: float,
    retention: float,
    fence_wait: float = 2.0,
    dry_run: bool = False,
) -> RecoveryReport:
    """Resolve in-doubt branches (see the module docstring); never raises per branch."""
    with log.recovery_lock() as acquired:
        if not acquired:
            return RecoveryReport(locked_out=True)
        report = RecoveryReport()
        found = find_in_doubt(participants, nodes)
        for xid in sorted(found):
            report.resolutions += _resolve(xid, found[xid], log, delay, fence_wait, dry_run)
        if not dry_run:
            report.purged = log.purge(time.time() - retention, keep=list(found))
        return report


def _resolve(
    xid: Xid,
    branches: list[tuple[Participant, InDoubt]],
    log: DecisionLog,
    delay: float,
    fence_wait: float,
    dry_run: bool,
) -> list[Resolution]:
    now = time.time()
    age = now - min(doubt.prepared_at for _, doubt in branches)
    decision = log.lookup(xid)
    reason = f"the log records {decision}"
    if decision is None and age < delay:
        return _all(xid, branches, now, "skipped", f"younger than the recovery delay ({delay}s)")
    if decision is None and dry_run:
        return _all(xid, branches, now, "would roll back", "no decision recorded")
    if decision is None:
        decision = log.log_abort(xid, fence_wait)
        reason = "no decision recorded: fenced with an abort record"
        if decision is None:
            return _all(xid, branches, now, "skipped", "its coordinator is writing a decision")
        if decision == COMMIT:
            reason = "its coordinator recorded commit first"
    if dry_run:
        return _all(
            xid, branches, now, f"would {'commit' if decision == COMMIT else 'roll back'}", reason
        )
    return [_finish(xid, p, d, decision, reason, now) for p, d in branches]


def _all(
    xid: Xid, branches: list[tuple[Participant, InDoubt]], now: float, action: str, reason: str
) -> list[Resolution]:
    return [
        Resolution(str(xid), p.alias, d.branch.gid, action, reason, now - d.prepared_at)
        for p, d in branches
    ]


def _finish(
    xid: Xid, participant: Participant, doubt: InDoubt, decision: Decision, reason: str, now: float
) -> Resolution:
    age = now - doubt.prepared_at
    try:
        if decision == COMMIT:
            done, action = participant.commit_prepared(doubt.branch), "committed"
        else:
            done, action = participant.rollback_prepared(doubt.branch), "rolled back"
    except BranchBusy as exc:
        return Resolution(str(xid), participant.alias, doubt.branch.gid, "skipped", str(exc), age)
    except Exception as exc:  # one branch failing must not stop the others
        why = f"{type(exc).__name__}: {exc}"
        return Resolution(str(xid), participant.alias, doubt.branch.gid, "skipped", why, age)
    if not done:
        action = "already resolved"
    else:
        notify(
            "accord_tpc_in_doubt_resolved",
            xid=str(xid),
            outcome=action,
            participant=participant.alias,
            age=age,
        )
    return Resolution(str(xid), participant.alias, doubt.branch.gid, action, reason, age)


def outcome(
    text: str,
    log: DecisionLog,
    participants: Sequence[Participant],
    *,
    delay: float,
    retention: float,
) -> str:
    """``"committed"``, ``"rolled back"`` or ``"in doubt"`` for the global xid *text*.

    Raises :class:`~accord.core.errors.ConfigurationError` (``ValueError``) for
    text that is not an accord xid, and :class:`OutcomeUnknown` for one older
    than *retention*, whose record may have been purged.
    """
    xid = parse_xid(text)
    if xid is None:
        raise ConfigurationError(
            f"{text!r} is not an accord transaction id; expected 'accord:<node>:<32 hex digits>'"
        )
    decision = log.lookup(xid)
    if decision is not None:
        return "committed" if decision == COMMIT else "rolled back"
    if time.time() - xid.started > retention:
        raise OutcomeUnknown(
            f"{text} is older than the decision retention; its record may be purged", xid=text
        )
    if time.time() - xid.started < delay or xid in find_in_doubt(participants, [xid.node]):
        return "in doubt"
    return "rolled back"  # presumed abort: no record, nothing prepared, past the delay
