"""Recovery: finish the prepared branches a coordinator left behind, and fence it.

Failure behaviour first: :func:`recover` never raises for one branch it
cannot finish (the owner session still connected, a database down): that
branch is reported with the reason, and the next run tries again. A database
that cannot be scanned (down, a replica, a user that cannot see every branch)
is reported in :attr:`RecoveryReport.unreachable`. It raises only when it
cannot work at all (the decision log is unreachable or fails:
:class:`~accord.core.errors.DecisionLogError`, the store's error chained);
then nothing was changed that the log does not record.

Only branches of this log (their bqual carries the log's identity, see
:mod:`~accord.core.tpc.xid`) and of one of *nodes* are touched: another
deployment's branches on a shared server are counted in
:attr:`RecoveryReport.foreign` and left alone. For each global transaction:

1. a recorded decision (``commit`` or ``abort``, the coordinator's, a fence,
   or an operator's) is carried out on every branch;
2. without a decision, a transaction younger than *delay* is left alone (its
   coordinator may still be running); an older one is **fenced**: an abort
   record is inserted, which the coordinator's own commit insert can no
   longer pass, so a coordinator that was merely slow cannot commit after
   recovery rolled back. If the coordinator won the race, its commit stands.

A branch's age counts from its prepare (PostgreSQL records it) or, where the
server does not record it (MySQL), from when recovery first saw it prepared
(a sighting kept in the log, so separate runs agree).

A branch that recovery saw prepared and then found gone was ended by someone
else: if the server tells it was ended against the decision (PostgreSQL), or
cannot tell (MySQL), it is reported as a hazard. Decision records are purged
after *retention*, but never a commit record naming a database this run could
not scan, nor one whose transaction still has a prepared branch.

Only one worker per log runs at a time (the log's recovery lock); a second one
returns at once with :attr:`RecoveryReport.locked_out`. Two at once would do
no harm anyway: every step is idempotent and the log arbitrates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from accord.core.errors import ConfigurationError, OutcomeUnknown
from accord.core.plugins import notify
from accord.core.tpc.contract import (
    ABORT,
    COMMIT,
    OPERATOR,
    RECOVERY,
    BranchBusy,
    DecisionLog,
    InDoubt,
    Participant,
    Record,
)
from accord.core.tpc.steps import step
from accord.core.tpc.xid import Xid, parse_xid

__all__ = ["RecoveryReport", "Resolution", "Scan", "outcome", "recover", "resolve", "scan"]

logger = logging.getLogger("accord.tpc")

_ATTENTION = {"failed", "hazard", "resolved elsewhere"}
_BUSY_GRACE = 60.0  # seconds a live owner may keep a decided MariaDB branch before it alerts


@dataclass(frozen=True)
class Resolution:
    """What recovery did (or, in a dry run, would do) with one prepared branch.

    ``action``: ``"committed"``, ``"rolled back"``, ``"already resolved"``,
    ``"in flight"`` (left to its coordinator), ``"busy"`` (its owner session
    is still connected), ``"failed"`` (the database refused; retried next
    run), ``"hazard"`` (ended by someone else against the decision),
    ``"resolved elsewhere"`` (ended by someone else; the server cannot tell
    how), ``"would commit"`` or ``"would roll back"``. ``age`` is seconds
    since the branch was prepared (or first seen, on MySQL).
    """

    xid: str
    alias: str
    gid: str
    action: str
    reason: str
    age: float


@dataclass
class RecoveryReport:
    """Every branch recovery looked at, and what it could not look at."""

    resolutions: list[Resolution] = field(default_factory=list)
    locked_out: bool = False
    purged: int = 0
    unreachable: dict[str, str] = field(default_factory=dict)
    foreign: int = 0  # prepared branches of other deployments (other logs), left alone

    @property
    def unresolved(self) -> list[Resolution]:
        """The branches still prepared after this run, in flight ones excepted."""
        return [r for r in self.resolutions if r.action in ("busy", "failed")]

    @property
    def hazards(self) -> list[Resolution]:
        """Branches ended outside accord, against the decision or in an unknown way."""
        return [r for r in self.resolutions if r.action in ("hazard", "resolved elsewhere")]

    def needs_attention(self, delay: float) -> bool:
        """Whether an operator should look (what ``accord_recover`` exits 1 for).

        A database that could not be scanned, a branch the database refused
        to finish, a hazard, or a live owner holding a decided branch long
        after *delay*; never a transaction merely still in flight.
        """
        if self.unreachable:
            return True
        for item in self.resolutions:
            if item.action in _ATTENTION:
                return True
            if item.action == "busy" and item.age > delay + _BUSY_GRACE:
                return True
        return False


Found = dict[Xid, list[tuple[Participant, InDoubt]]]


@dataclass
class Scan:
    """What scanning the participants found (see :func:`scan`)."""

    found: Found = field(default_factory=dict)  # this log's branches of the nodes asked for
    ours: set[Xid] = field(default_factory=set)  # xids with a branch of this log, any node
    scanned: set[str] = field(default_factory=set)  # aliases scanned completely
    unreachable: dict[str, str] = field(default_factory=dict)
    foreign: int = 0


def scan(participants: Sequence[Participant], identity: str, nodes: Collection[str]) -> Scan:
    """List the prepared branches of log *identity*; never raises for one participant."""
    result = Scan()
    seen: set[str] = set()
    for participant in participants:
        try:
            doubts = participant.in_doubt()
        except Exception as exc:  # down, a replica, blind: its branches are unknown
            result.unreachable[participant.alias] = f"{type(exc).__name__}: {exc}"
            continue
        result.scanned.add(participant.alias)
        for doubt in doubts:
            branch = doubt.branch
            if branch.log != identity:
                result.foreign += 1
                continue
            result.ours.add(branch.xid)
            if branch.xid.node in nodes and branch.gid not in seen:
                seen.add(branch.gid)  # MySQL's XA RECOVER is server-wide: two aliases may list it
                result.found.setdefault(branch.xid, []).append((participant, doubt))
    return result


def recover(
    participants: Sequence[Participant],
    log: DecisionLog,
    *,
    nodes: Collection[str],
    delay: float,
    retention: float,
    fence_wait: float = 2.0,
    dry_run: bool = False,
    unreachable: dict[str, str] | None = None,
) -> RecoveryReport:
    """Resolve in-doubt branches (see the module docstring); never raises per branch.

    *unreachable* names the aliases the caller could not even connect to:
    they count as not scanned (their commit records are kept).
    """
    with log.recovery_lock() as acquired:
        if not acquired:
            return RecoveryReport(locked_out=True, unreachable=dict(unreachable or {}))
        found = scan(participants, log.identity(), nodes)
        found.unreachable = {**(unreachable or {}), **found.unreachable}
        report = RecoveryReport(unreachable=found.unreachable, foreign=found.foreign)
        for xid in sorted(found.found):
            step("recovery-scanned", xid)
            report.resolutions += resolve(
                xid, found.found[xid], log, delay=delay, fence_wait=fence_wait, dry_run=dry_run
            )
        if not dry_run:
            cutoff = time.time() - retention
            horizon = cutoff + min(retention / 10, 600.0)  # allowance for clock skew
            scanned = found.scanned - set(found.unreachable)
            report.purged = log.purge(cutoff, horizon, keep=found.ours, scanned=scanned)
        notify(
            "accord_tpc_recovery_ran",
            branches=len(report.resolutions),
            oldest_age=max((r.age for r in report.resolutions), default=0.0),
            unresolved=len(report.unresolved),
            dry_run=dry_run,
        )
        return report


def _prepared_at(xid: Xid, doubts: list[InDoubt], log: DecisionLog) -> float:
    known = [d.prepared_at for d in doubts if d.prepared_at is not None]
    if len(known) < len(doubts):
        known.append(log.sightings([xid]).get(xid, time.time()))
    return min(known)


def resolve(
    xid: Xid,
    branches: list[tuple[Participant, InDoubt]],
    log: DecisionLog,
    *,
    delay: float,
    fence_wait: float,
    dry_run: bool,
) -> list[Resolution]:
    """Decide (or fence) one global transaction and finish its branches."""
    now = time.time()
    record = log.lookup(xid)
    age = max(0.0, now - _prepared_at(xid, [d for _, d in branches], log))
    if record is None:
        if age < delay:
            why = f"younger than the recovery delay ({delay}s)"
            return _all(xid, branches, age, "in flight", why)
        if dry_run:
            return _all(xid, branches, age, "would roll back", "no decision recorded")
        aliases = [p.alias for p, _ in branches]
        record = log.decide(xid, ABORT, source=RECOVERY, participants=aliases, wait=fence_wait)
        if record is None:
            return _all(xid, branches, age, "in flight", "its coordinator is writing a decision")
        reason = "no decision recorded: fenced with an abort record"
        if record.decision == COMMIT:
            reason = "its coordinator recorded commit first"
    else:
        reason = _why(record)
    if dry_run:
        verb = "would commit" if record.decision == COMMIT else "would roll back"
        return _all(xid, branches, age, verb, reason)
    return [finish(xid, p, d, record, reason, age) for p, d in branches]


def _why(record: Record) -> str:
    if record.source == OPERATOR:
        return f"heuristic decision by an operator: {record.decision}"
    return f"the log records {record.decision}"


def _all(
    xid: Xid, branches: list[tuple[Participant, InDoubt]], age: float, action: str, reason: str
) -> list[Resolution]:
    return [Resolution(str(xid), p.alias, d.branch.gid, action, reason, age) for p, d in branches]


def finish(
    xid: Xid, participant: Participant, doubt: InDoubt, record: Record, reason: str, age: float
) -> Resolution:
    """Carry out *record* on one branch; never raises (a failure is the resolution)."""
    wanted = "committed" if record.decision == COMMIT else "rolled back"
    gid = doubt.branch.gid
    try:
        if record.decision == COMMIT:
            done = participant.commit_prepared(doubt.branch)
        else:
            done = participant.rollback_prepared(doubt.branch)
    except BranchBusy as exc:
        return Resolution(str(xid), participant.alias, gid, "busy", str(exc), age)
    except Exception as exc:  # one branch failing must not stop the others
        why = f"{type(exc).__name__}: {exc}"
        return Resolution(str(xid), participant.alias, gid, "failed", why, age)
    if done:
        notify(
            "accord_tpc_in_doubt_resolved",
            xid=str(xid),
            outcome=wanted,
            participant=participant.alias,
            age=age,
        )
        return Resolution(str(xid), participant.alias, gid, wanted, reason, age)
    return _gone(xid, participant, doubt, wanted, age)


def _gone(
    xid: Xid, participant: Participant, doubt: InDoubt, wanted: str, age: float
) -> Resolution:
    """A branch that vanished between the scan and its resolution: who ended it, and how?"""
    how: str | None = None
    resolved_as = getattr(participant, "resolved_as", None)
    if resolved_as is not None:
        try:
            how = resolved_as(doubt)
        except Exception:  # cannot tell
            logger.debug("could not ask how %s ended", doubt.branch.gid, exc_info=True)
    gid = doubt.branch.gid
    if how == wanted:
        why = f"{how} by another session"
        return Resolution(str(xid), participant.alias, gid, "already resolved", why, age)
    if how is None:
        action = "resolved elsewhere"
        detail = "ended by another session between the scan and now; the server cannot tell how"
    else:
        action, detail = "hazard", f"{how} outside accord, against the decision to have it {wanted}"
    logger.warning("tpc recovery: %s on %r: %s", gid, participant.alias, detail)
    notify("accord_tpc_hazard", xid=str(xid), participant=participant.alias, detail=detail)
    return Resolution(str(xid), participant.alias, gid, action, detail, age)


def outcome(
    text: str,
    log: DecisionLog,
    participants: Sequence[Participant],
    *,
    delay: float,
    retention: float,
    unreachable: Collection[str] = (),
) -> str:
    """``"committed"``, ``"rolled back"`` or ``"in doubt"`` for the global xid *text*.

    Raises :class:`~accord.core.errors.ConfigurationError` (``ValueError``) for
    text that is not an accord xid, and :class:`OutcomeUnknown` for one older
    than *retention*, whose record may have been purged. ``"rolled back"``
    without a record needs every participant scanned: while one cannot be
    (or is named in *unreachable*), the answer stays ``"in doubt"``.
    """
    xid = parse_xid(text)
    if xid is None:
        raise ConfigurationError(
            f"{text!r} is not an accord transaction id; expected 'accord:<node>:<32 hex digits>'"
        )
    record = log.lookup(xid)
    if record is not None:
        return "committed" if record.decision == COMMIT else "rolled back"
    if time.time() - xid.started > retention:
        raise OutcomeUnknown(
            f"{text} is older than the decision retention; its record may be purged", xid=text
        )
    if time.time() - xid.started < delay:
        return "in doubt"
    found = scan(participants, log.identity(), [xid.node])
    if unreachable or found.unreachable or xid in found.ours:
        return "in doubt"
    return "rolled back"  # presumed abort: no record, nothing prepared, past the delay
