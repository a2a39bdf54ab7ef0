"""``tpc.recover()``, ``tpc.outcome(xid)``, the in-doubt report and heuristic decisions.

Failure behaviour first: :func:`recover` raises only when the decision log
cannot be reached or fails (:class:`~accord.core.errors.DecisionLogError`;
nothing is changed then), and so do the others; a participating database that
cannot be reached or scanned (down, a replica, a user blind to other
sessions' branches) is reported in :attr:`RecoveryReport.unreachable` and
skipped, and a branch it cannot finish is reported with the reason, for the
next run. :func:`decide` raises :class:`~accord.core.errors.DecisionConflict`
when the log records the opposite decision. Settings errors raise
:class:`~accord.core.errors.ConfigurationError`.

Recovery uses its own sessions (never the thread's connections) and holds
the single-worker lock of the decision log (an advisory lock named for the
log in its database: ``pg_try_advisory_lock`` or MySQL ``GET_LOCK``; a kazoo
lock for ZooKeeper). Run it at start-up, and every minute or so
(``manage.py accord_recover --watch``, or Celery beat: see the guide).

By default it scans every PostgreSQL and MySQL alias except test mirrors
(``DATABASES[alias]["TEST"]["MIRROR"]``, Django's way to declare a replica);
a replica found anyway is refused at scan time (see the participants).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.db import connections

from accord.contrib.django.tpc.config import (
    decision_log,
    get_settings,
    participant_for,
    resolve_alias,
)
from accord.contrib.django.tpc.connection import DjangoSQLConnection, database, fresh_connection
from accord.core.tpc import operator
from accord.core.tpc import recovery as core
from accord.core.tpc.builtins import VENDORS
from accord.core.tpc.contract import COMMIT, Decision, Participant
from accord.core.tpc.recovery import RecoveryReport

__all__ = ["DjangoRecoveryReport", "decide", "in_doubt", "outcome", "recover", "recovery_aliases"]

logger = logging.getLogger("accord.tpc")

#: The report :func:`recover` returns (the core's; kept under its former name).
DjangoRecoveryReport = RecoveryReport


def _is_mirror(alias: str) -> bool:
    test = connections.settings[alias].get("TEST") or {}
    return bool(test.get("MIRROR"))


def recovery_aliases(configured: tuple[str, ...] | None) -> list[str]:
    """``RECOVERY_ALIASES``, or every PostgreSQL/MySQL alias that is not a test mirror."""
    if configured is not None:
        return [resolve_alias(a) for a in configured]
    return [a for a in connections if database(a).vendor in VENDORS and not _is_mirror(a)]


@contextlib.contextmanager
def _participants(aliases: list[str], unreachable: dict[str, str]) -> Iterator[list[Participant]]:
    sessions: list[DjangoSQLConnection] = []
    try:
        for alias in aliases:
            try:
                sessions.append(fresh_connection(alias))
            except Exception as exc:  # one database down must not stop the others
                logger.warning("tpc recovery cannot reach %r: %s", alias, exc)
                unreachable[alias] = f"{type(exc).__name__}: {exc}"
        yield [participant_for(s) for s in sessions]
    finally:
        for session in sessions:
            session.close()


def recover(*, dry_run: bool = False) -> RecoveryReport:
    """Resolve this deployment's in-doubt branches; see the module docstring.

    With ``dry_run=True`` nothing is changed (no fence either; only the
    sightings of MySQL branches are recorded) and each resolution says what
    would be done. ``report.needs_attention(RECOVERY_DELAY)`` says whether an
    operator should look.
    """
    conf = get_settings()
    unreachable: dict[str, str] = {}
    with _participants(recovery_aliases(conf.recovery_aliases), unreachable) as participants:
        report = core.recover(
            participants,
            decision_log(conf),
            nodes=conf.recover_nodes,
            delay=conf.recovery_delay,
            retention=conf.decision_retention,
            dry_run=dry_run,
            unreachable=unreachable,
        )
    for item in report.resolutions:
        logger.info(
            "tpc recovery: %s %s on %r (%s)", item.action, item.gid, item.alias, item.reason
        )
    return report


def outcome(xid: str) -> str:
    """``"committed"``, ``"rolled back"`` or ``"in doubt"`` for a global xid.

    Raises :class:`~accord.core.errors.ConfigurationError` for text that is
    not an accord xid, and :class:`~accord.core.errors.OutcomeUnknown` for a
    transaction older than ``DECISION_RETENTION`` (its record may be gone).
    ``"in doubt"`` means recovery has not decided yet: ask again later.
    Meant for two-phase xids (``OutcomeUnknown.xid``): a block that committed in
    one phase leaves no record, so its xid would read as ``"rolled back"``.
    """
    conf = get_settings()
    unreachable: dict[str, str] = {}
    with _participants(recovery_aliases(conf.recovery_aliases), unreachable) as participants:
        return core.outcome(
            xid,
            decision_log(conf),
            participants,
            delay=conf.recovery_delay,
            retention=conf.decision_retention,
            unreachable=unreachable,
        )


def in_doubt() -> operator.InDoubtReport:
    """The in-doubt report: every prepared transaction of this deployment, oldest first.

    Each with its age, branches (alias and gid), recorded decision (and who
    recorded it), the participants the record names, and what recovery will
    do next. Databases that cannot be scanned are in ``unreachable``.
    """
    conf = get_settings()
    unreachable: dict[str, str] = {}
    with _participants(recovery_aliases(conf.recovery_aliases), unreachable) as participants:
        report = operator.in_doubt_report(
            participants, decision_log(conf), nodes=conf.recover_nodes, delay=conf.recovery_delay
        )
    report.unreachable = {**unreachable, **report.unreachable}
    return report


def decide(xid: str, decision: Decision, *, force: bool = False) -> RecoveryReport:
    """Record an operator's *decision* (``"commit"`` or ``"abort"``) for *xid*, then carry it out.

    Refused with :class:`~accord.core.errors.DecisionConflict`, changing
    nothing, when the log records the opposite decision, or for ``"commit"``
    of a transaction without a recorded decision unless *force* (see
    :mod:`accord.core.tpc.operator` for why). Branches on databases that
    cannot be reached are left to recovery, which follows the record.
    """
    conf = get_settings()
    unreachable: dict[str, str] = {}
    with _participants(recovery_aliases(conf.recovery_aliases), unreachable) as participants:
        report = operator.decide_by_hand(
            xid,
            COMMIT if decision == COMMIT else "abort",
            participants,
            decision_log(conf),
            force=force,
        )
    report.unreachable = {**unreachable, **report.unreachable}
    for item in report.resolutions:
        logger.warning(
            "tpc heuristic: %s %s on %r (%s)", item.action, item.gid, item.alias, item.reason
        )
    return report
