"""What the coordinator needs from a database connection, a participant and a decision log.

Failure behaviour first: participant methods raise the driver's own
exceptions (or the framework's wrappers of them) unchanged; the coordinator
asks the participant what one means (:meth:`Participant.classify`: did the
server refuse the statement, or was the session lost?) and raises accord's
error with the driver's as ``__cause__``. A decision log raises
:class:`~accord.core.errors.DecisionLogError` for a failure of its store.
Database error codes are read only by the participant of that database
(:func:`accord.core.tpc.postgresql.sqlstate`, :func:`accord.core.tpc.mysql.errno`).

Third parties add databases by returning a :class:`Participant` from the
``accord_tpc_participant`` hook (each one classifying its own database's
errors), and decision stores by returning a :class:`DecisionLog` from
``accord_decision_log``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from accord.core.errors import RecoveryError
from accord.core.tpc.xid import BranchXid, Xid

__all__ = [
    "ABORT",
    "COMMIT",
    "COORDINATOR",
    "OPERATOR",
    "RECOVERY",
    "DecisionLog",
    "ErrorKind",
    "InDoubt",
    "Participant",
    "Record",
    "SQLConnection",
    "chain",
]

Decision = Literal["commit", "abort"]
COMMIT: Decision = "commit"
ABORT: Decision = "abort"

#: Who recorded a decision: the transaction's coordinator (its commit), recovery
#: (an abort fence), or an operator (a heuristic decision, ``accord_recover --commit``).
Source = Literal["coordinator", "recovery", "operator"]
COORDINATOR: Source = "coordinator"
RECOVERY: Source = "recovery"
OPERATOR: Source = "operator"


#: What an error means for the statement that raised it (see :meth:`Participant.classify`).
ErrorKind = Literal["refused", "lost"]


@runtime_checkable
class SQLConnection(Protocol):
    """A database session, as a framework adapter exposes it to the core.

    ``vendor`` is ``"postgresql"``, ``"mysql"``, ...; ``alias`` names it in
    messages and reports. ``execute`` runs one statement (``%s`` placeholders)
    and returns the rows it produced (``[]`` when none). ``in_transaction``
    tells, from the driver, whether a transaction is open on the session.
    ``execute_outside_transaction`` runs a statement that must not be inside
    a transaction block, on a session whose transaction has ended.
    ``wrote`` is True when the adapter saw a statement that may write since
    :meth:`reset_writes`; False is only a hint (the participant asks the
    server before it trusts it).

    Optional: a ``usable() -> bool`` method, which the decision log calls
    before reusing its idle session (False: the session is replaced, as when
    the server ended it for idleness). Sessions without it are assumed usable.
    And ``send(sql, params) -> Callable[[], int] | None``: send a statement
    without waiting, the callable waits and returns how many rows it
    returned (None: not supported); the coordinator uses it to run one step on
    several databases at once from one thread.
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
        """True when a statement that may write was sent since :meth:`reset_writes`."""

    def reset_writes(self) -> None:
        """Start counting writes afresh."""

    def close(self) -> None:
        """Close the session (a no-op for sessions the framework owns)."""


@dataclass(frozen=True)
class InDoubt:
    """A prepared branch found by recovery.

    ``prepared_at`` is when it was prepared (seconds since the epoch), or None
    where the server does not tell (MySQL: recovery then counts from when it
    first saw the branch). ``txid`` is the server's own id of the prepared
    transaction where it has one that outlives it (PostgreSQL), so that how the
    branch ended can be asked later.
    """

    branch: BranchXid
    prepared_at: float | None
    txid: str | None = None


@dataclass(frozen=True)
class Record:
    """A decision as the log holds it: what, by whom, for which aliases, when (epoch seconds)."""

    decision: Decision
    source: Source = "coordinator"
    participants: tuple[str, ...] = ()
    created: float = 0.0


@runtime_checkable
class Participant(Protocol):
    """One database in a global transaction: the two-phase-commit contract.

    The active-transaction methods (``begin`` ... ``rollback``) run on the
    session doing the work. ``commit_prepared``, ``rollback_prepared`` and
    ``in_doubt`` may run on any session of the same database (recovery uses
    its own); they raise the driver's error, and ``commit_prepared`` /
    ``rollback_prepared`` return False instead when the branch no longer
    exists (someone resolved it already).

    Optional: ``start_begin(branch)``, ``start_prepare()`` and
    ``start_commit_prepared(branch)``, which send the statement and return a
    callable that finishes the step as ``begin``/``prepare``/``commit_prepared``
    would (or None: the caller then calls those);
    and ``resolved_as(doubt) -> "committed" | "rolled back" | None``,
    how a branch that recovery saw prepared and then found gone was ended, if
    the server can tell (PostgreSQL can, from ``InDoubt.txid``). Recovery uses
    it to tell a branch resolved by hand against the decision (a hazard).
    """

    alias: str
    connection: SQLConnection

    def classify(self, exc: BaseException) -> ErrorKind | None:
        """What *exc*, raised by one of this participant's statements, means for that statement.

        ``"refused"``: the server answered with an error, so the statement
        took no effect (a constraint or serialization failure, a refused
        ``PREPARE``, a lock timeout). ``"lost"``: the session was lost
        (a dropped connection, the server shut down), so the statement may or
        may not have taken effect. ``None``: cannot tell, which the
        coordinator treats as ``"lost"``. Never raises.

        The coordinator asks it about a failed ``COMMIT`` (of the one branch
        committed without preparing): ``"refused"`` means nothing was
        committed (:class:`~accord.core.errors.PrepareFailed`), anything else
        that the outcome is unknown. Participants written before this method
        existed still work: the coordinator then reads PostgreSQL and MySQL
        error codes itself, as it used to, and warns once
        (``DeprecationWarning``).
        """

    def begin(self, branch: BranchXid) -> None:
        """Start the branch's transaction; the session's first statement."""

    def wrote(self) -> bool:
        """Whether the branch may have written anything (True when unsure).

        Decided from what cannot miss a write: the server's view of the
        transaction, or the adapter's count of writing statements when it saw one.
        """

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
        """accord's prepared branches in this database (every node's and every log's).

        Raises :class:`~accord.core.errors.RecoveryError` when the session
        cannot see every prepared branch (MySQL 8 without ``XA_RECOVER_ADMIN``)
        or the server is a replica: an empty list must mean "none".
        """


class DecisionLog(Protocol):
    """Where the commit decision becomes durable (presumed abort: no record, no commit).

    ``identity`` names the log (16 hex digits, random, kept in the log itself
    and made on first use): it is written into every branch id, so that
    recovery touches only the branches its own log decides.

    ``log_commit`` is the commit point. With ``within`` (a participant's
    session whose local transaction is still open), the record joins that
    transaction and becomes durable when it commits (logging last resource);
    otherwise it is durable when ``log_commit`` returns, whatever the store's
    default durability. Both ``log_commit`` and ``decide`` are
    *insert-if-absent* on the xid, so the first one to write wins:
    ``log_commit`` returns when a commit is recorded (its own, or an
    operator's) and raises :class:`~accord.core.errors.TransactionFenced` when
    an abort is, or when the xid is older than the purge horizon (its abort
    record may have been purged); ``decide`` returns the record that stands.

    Failures of the store raise :class:`~accord.core.errors.DecisionLogError`
    with the store's error chained and ``refused`` True only when the store
    answered with an error (nothing was written): a ``log_commit`` that fails
    otherwise leaves the decision in doubt
    (:class:`~accord.core.errors.OutcomeUnknown` for the block). ``url`` is
    the store's URL with any password redacted, for messages.

    ``purge`` deletes records made before ``older_than``, except those of
    ``keep`` (xids with a prepared branch somewhere) and commit records naming
    an alias not in ``scanned`` (its branch may still be prepared, unseen). It
    first raises the purge horizon to ``horizon``, so that no coordinator can
    later record commit for an xid that started before it.
    """

    url: str

    def identity(self) -> str:
        """The log's identity (16 hex digits), made and stored on first use."""

    def shares_transaction_with(self, connection: SQLConnection) -> bool:
        """Whether a record can be written inside *connection*'s transaction."""

    def log_commit(
        self, xid: Xid, participants: Sequence[str], within: SQLConnection | None
    ) -> None:
        """Record the commit decision for *xid* (see the class)."""

    def decide(
        self,
        xid: Xid,
        decision: Decision,
        *,
        source: Source,
        participants: Sequence[str],
        wait: float,
    ) -> Record | None:
        """Record *decision* unless one exists; the record that stands, None if *wait* ran out."""

    def lookup(self, xid: Xid) -> Record | None:
        """The recorded decision for *xid*, or None."""

    def sightings(self, xids: Sequence[Xid]) -> dict[Xid, float]:
        """When recovery first saw each of *xids* prepared (recording now for new ones)."""

    def purge(
        self, older_than: float, horizon: float, keep: Collection[Xid], scanned: Collection[str]
    ) -> int:
        """Delete old records (see the class); how many were deleted."""

    def recovery_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Hold this log's single-recovery-worker lock; yields False if another worker holds it."""


def chain(exc: BaseException) -> Iterator[BaseException]:
    """*exc*, then its ``__cause__`` (or ``__context__``), and so on: where driver errors hide."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def legacy_classify(exc: BaseException) -> ErrorKind | None:
    """How errors are classified for a participant without ``classify``: PostgreSQL, then MySQL."""
    from accord.core.tpc import mysql, postgresql

    return postgresql.classify(exc) or mysql.classify(exc)


def _error_code(exc: BaseException) -> str | int | None:
    from accord.core.tpc import mysql, postgresql

    return postgresql.sqlstate(exc) or mysql.errno(exc)


def __getattr__(name: str) -> object:
    if name != "error_code":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    warnings.warn(
        "accord.core.tpc.contract.error_code is deprecated: a participant classifies its own "
        "errors (Participant.classify); the codes are read by "
        "accord.core.tpc.postgresql.sqlstate and accord.core.tpc.mysql.errno",
        DeprecationWarning,
        stacklevel=2,
    )
    return _error_code


class BranchBusy(RecoveryError):
    """A participant cannot finish a prepared branch yet: its owner session is connected.

    Part of the participant contract, not of the public error tree: a
    participant's ``commit_prepared``/``rollback_prepared`` raises it (MariaDB
    refuses ``XA COMMIT``/``XA ROLLBACK`` from another session while the
    session that prepared the branch is still connected), and the coordinator
    and recovery catch it and leave the branch for a later run. It never
    reaches the caller of ``tpc.atomic`` or ``accord_recover``.
    """
