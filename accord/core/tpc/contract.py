"""What the coordinator needs from a database connection, a participant and a decision log.

Failure behaviour first: methods raise the driver's own exceptions (or the
framework's wrappers of them) unchanged; the coordinator decides what they
mean. :func:`error_code` digs the SQLSTATE (PostgreSQL) or error number
(MySQL) out of any of them, following ``__cause__``.

Third parties add databases by returning a :class:`Participant` from the
``accord_tpc_participant`` hook, and decision stores by returning a
:class:`DecisionLog` from ``accord_decision_log``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from accord.core.tpc.xid import BranchXid, Xid

__all__ = [
    "ABORT",
    "COMMIT",
    "DecisionLog",
    "InDoubt",
    "Participant",
    "SQLConnection",
    "error_code",
]

Decision = Literal["commit", "abort"]
COMMIT: Decision = "commit"
ABORT: Decision = "abort"


@runtime_checkable
class SQLConnection(Protocol):
    """A database session, as a framework adapter exposes it to the core.

    ``vendor`` is ``"postgresql"``, ``"mysql"``, ...; ``alias`` names it in
    messages and reports. ``execute`` runs one statement (``%s`` placeholders)
    and returns the rows it produced (``[]`` when none). ``in_transaction``
    tells, from the driver, whether a transaction is open on the session.
    ``execute_outside_transaction`` runs a statement that must not be inside
    a transaction block, on a session whose transaction has ended.
    ``wrote`` is True unless the adapter is sure nothing was written since
    :meth:`reset_writes` (the read-only optimisation trusts it).
    """

    vendor: str
    alias: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run *sql*; raise the driver's error if it fails."""

    def execute_outside_transaction(self, sql: str) -> None:
        """Run *sql* in autocommit mode, e.g. ``COMMIT PREPARED`` on an idle session."""

    def in_transaction(self) -> bool:
        """Whether the session has a healthy transaction open (driver's view)."""

    def wrote(self) -> bool:
        """False only when nothing was written since :meth:`reset_writes`."""

    def reset_writes(self) -> None:
        """Start counting writes afresh."""

    def close(self) -> None:
        """Close the session (a no-op for sessions the framework owns)."""


@dataclass(frozen=True)
class InDoubt:
    """A prepared branch found by recovery: its id, and since when it is prepared."""

    branch: BranchXid
    prepared_at: float  # seconds since the epoch; the xid's start where the server does not tell


@runtime_checkable
class Participant(Protocol):
    """One database in a global transaction: the two-phase-commit contract.

    The active-transaction methods (``begin`` ... ``rollback``) run on the
    session doing the work. ``commit_prepared``, ``rollback_prepared`` and
    ``in_doubt`` may run on any session of the same database (recovery uses
    its own); they raise the driver's error, and ``commit_prepared`` /
    ``rollback_prepared`` return False instead when the branch no longer
    exists (someone resolved it already).
    """

    alias: str
    connection: SQLConnection

    def begin(self, branch: BranchXid) -> None:
        """Start the branch's transaction; the session's first statement."""

    def wrote(self) -> bool:
        """Whether the branch may have written anything (True when unsure)."""

    def prepare(self) -> None:
        """Make the branch durable and able to commit later, or raise."""

    def commit_one_phase(self) -> None:
        """Commit the active (unprepared) branch directly."""

    def rollback(self) -> None:
        """Roll back the active (unprepared) branch; never raises for a dead session."""

    def commit_prepared(self, branch: BranchXid) -> bool:
        """Commit a prepared branch; False if it does not exist (any more)."""

    def rollback_prepared(self, branch: BranchXid) -> bool:
        """Roll back a prepared branch; False if it does not exist (any more)."""

    def in_doubt(self) -> list[InDoubt]:
        """accord's prepared branches in this database (every node's)."""


class DecisionLog(Protocol):
    """Where the commit decision becomes durable (presumed abort: no row, no commit).

    ``log_commit`` is the commit point. With ``within`` (a participant's
    session whose local transaction is still open), the record joins that
    transaction and becomes durable when it commits (logging last resource);
    otherwise it is durable when ``log_commit`` returns. Both ``log_commit``
    and ``log_abort`` are *insert-if-absent* on the xid, so the first one to
    write wins: ``log_commit`` raises
    :class:`~accord.core.errors.TransactionFenced` when an abort is already
    recorded, ``log_abort`` returns the decision that won.
    """

    url: str

    def shares_transaction_with(self, connection: SQLConnection) -> bool:
        """Whether a record can be written inside *connection*'s transaction."""

    def log_commit(
        self, xid: Xid, participants: Sequence[str], within: SQLConnection | None
    ) -> None:
        """Record the commit decision for *xid* (see the class)."""

    def log_abort(self, xid: Xid, wait: float) -> Decision | None:
        """Record abort unless a decision exists; return the winner, None if *wait* ran out."""

    def lookup(self, xid: Xid) -> Decision | None:
        """The recorded decision for *xid*, or None."""

    def purge(self, older_than: float, keep: Sequence[Xid]) -> int:
        """Delete records made before *older_than* (epoch seconds) except *keep*."""

    def recovery_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Hold the single-recovery-worker lock; yields False if another worker holds it."""


def error_code(exc: BaseException) -> str | int | None:
    """The SQLSTATE (``str``) or MySQL error number (``int``) behind *exc*, if any."""
    for err in _chain(exc):
        sqlstate = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(sqlstate, str):
            return sqlstate
        args = getattr(err, "args", ())
        if args and isinstance(args[0], int) and type(err).__module__.startswith("MySQLdb"):
            return args[0]
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
