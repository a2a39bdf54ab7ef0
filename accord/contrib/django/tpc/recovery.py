"""``tpc.recover()`` and ``tpc.outcome(xid)`` for Django projects.

Failure behaviour first: :func:`recover` raises only when the decision log
cannot be reached (nothing is changed then); a participating database that
is down is reported in :attr:`RecoveryReport.unreachable` and skipped, and a
branch it cannot finish is reported as ``"skipped"`` with the reason, for the
next run. Settings errors raise
:class:`~accord.core.errors.ConfigurationError`.

Recovery uses its own sessions (never the thread's connections) and holds
the single-worker lock of the decision log (an advisory lock in the log's
database: ``pg_try_advisory_lock`` or MySQL ``GET_LOCK``; a kazoo lock for
ZooKeeper). Run it at start-up, and every minute or so from cron or Celery
beat (see the guide).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connections

from accord.contrib.django.tpc.config import (
    decision_log,
    get_settings,
    participant_for,
    resolve_alias,
)
from accord.contrib.django.tpc.connection import DjangoSQLConnection, database, fresh_connection
from accord.core.tpc import recovery as core
from accord.core.tpc.builtins import VENDORS
from accord.core.tpc.contract import Participant

__all__ = ["DjangoRecoveryReport", "outcome", "recover"]

logger = logging.getLogger("accord.tpc")


@dataclass
class DjangoRecoveryReport(core.RecoveryReport):
    """A :class:`~accord.core.tpc.RecoveryReport`, plus the aliases that could not be reached."""

    unreachable: dict[str, str] = field(default_factory=dict)


def _aliases(configured: tuple[str, ...] | None) -> list[str]:
    if configured is not None:
        return [resolve_alias(a) for a in configured]
    return [a for a in connections if database(a).vendor in VENDORS]


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


def recover(*, dry_run: bool = False) -> DjangoRecoveryReport:
    """Resolve this deployment's in-doubt branches; see the module docstring.

    With ``dry_run=True`` nothing is changed (no fence either) and each
    resolution says what would be done.
    """
    conf = get_settings()
    report = DjangoRecoveryReport()
    with _participants(_aliases(conf.recovery_aliases), report.unreachable) as participants:
        found = core.recover(
            participants,
            decision_log(conf),
            nodes=conf.recover_nodes,
            delay=conf.recovery_delay,
            retention=conf.decision_retention,
            dry_run=dry_run,
        )
    report.resolutions, report.locked_out, report.purged = (
        found.resolutions,
        found.locked_out,
        found.purged,
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
    with _participants(_aliases(conf.recovery_aliases), {}) as participants:
        return core.outcome(
            xid,
            decision_log(conf),
            participants,
            delay=conf.recovery_delay,
            retention=conf.decision_retention,
        )
