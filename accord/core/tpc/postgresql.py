"""The PostgreSQL participant: ``PREPARE TRANSACTION`` / ``COMMIT PREPARED``.

Failure behaviour first: :meth:`PostgresParticipant.prepare` raises
:class:`~accord.core.errors.PrepareFailed` when the session is not in a
healthy transaction (PostgreSQL would only warn in autocommit mode and
prepare nothing, or roll back an aborted transaction); otherwise the driver's
error propagates (the coordinator turns a refused prepare into
:class:`~accord.core.errors.PrepareFailed`, asking :meth:`~PostgresParticipant.classify`
what the error means). ``commit_prepared``/``rollback_prepared`` return False when
the gid does not exist (any more): someone resolved it already.
:meth:`~PostgresParticipant.in_doubt` raises
:class:`~accord.core.errors.RecoveryError` on a standby (it cannot resolve
anything; its primary's alias must be scanned instead).

Whether the branch wrote: a statement the adapter counted as a write says
yes at once; otherwise the server is asked (``txid_current_if_assigned()``),
so writes it did not see (a function called from a ``SELECT``, ``callproc``,
the raw driver connection) are not missed. A branch that only ran ``NOTIFY``
has no transaction id: it is committed after the decision, as a reader.

Needs ``max_prepared_transactions > 0`` on the server. ``PREPARE TRANSACTION``
and ``COMMIT PREPARED`` flush the WAL whatever ``synchronous_commit`` says. A
prepared transaction keeps its row locks and holds back vacuum until resolved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from accord.core.errors import PrepareFailed, RecoveryError
from accord.core.tpc.contract import ErrorKind, InDoubt, SQLConnection, chain
from accord.core.tpc.xid import BranchXid, parse_gid

__all__ = ["PostgresParticipant", "classify", "sqlstate"]

_UNDEFINED_OBJECT = "42704"  # "prepared transaction with identifier ... does not exist"
#: admin_shutdown, crash_shutdown, cannot_connect_now: the server ended the session.
_SESSION_ENDED = {"57P01", "57P02", "57P03"}


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE behind *exc* (psycopg 3 ``sqlstate``, psycopg 2 ``pgcode``), in its causes."""
    for err in chain(exc):
        code = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def classify(exc: BaseException) -> ErrorKind | None:
    """``"lost"`` (class 08, or the server ended the session), ``"refused"`` (any other
    SQLSTATE: the server answered), or None (no SQLSTATE: cannot tell)."""
    code = sqlstate(exc)
    if code is None:
        return None
    if code in _SESSION_ENDED or code.startswith("08"):
        return "lost"
    return "refused"


class PostgresParticipant:
    """One PostgreSQL database in a global transaction (see :class:`~.contract.Participant`)."""

    def __init__(self, connection: SQLConnection, alias: str) -> None:
        self.connection = connection
        self.alias = alias
        self.branch: BranchXid | None = None

    def classify(self, exc: BaseException) -> ErrorKind | None:
        """What *exc*, raised by one of this participant's statements, means (see the contract)."""
        return classify(exc)

    def begin(self, branch: BranchXid) -> None:
        """Remember the branch id; the driver opens the transaction on the first statement."""
        self.branch = branch

    def start_begin(self, branch: BranchXid) -> Callable[[], object] | None:
        """Send the driver's own ``BEGIN`` now; a callable that waits for it (None: cannot).

        The transaction is the one the driver would open on the first
        statement (same isolation level and access mode), only opened at once,
        so that every database's ``BEGIN`` shares one round trip.
        """
        self.branch = branch
        start = getattr(self.connection, "start_transaction", None)
        return start() if start is not None else None

    def wrote(self) -> bool:
        """A write statement was seen, or the transaction holds an id (assigned on a write)."""
        if self.connection.wrote():
            return True
        rows = self.connection.execute("SELECT txid_current_if_assigned() IS NOT NULL")
        return bool(rows[0][0])

    def _prepare_sql(self) -> str:
        assert self.branch is not None, "begin() first"
        if not self.connection.in_transaction():
            raise PrepareFailed(
                f"cannot prepare on {self.alias!r}: the PostgreSQL session is not in a "
                "healthy transaction (autocommit on, or a statement failed); nothing was prepared"
            )
        # gids are made of [a-z0-9:_-] only (see xid.py), so quoting is safe.
        return f"PREPARE TRANSACTION '{self.branch.gid}'"

    def prepare(self) -> None:
        """``PREPARE TRANSACTION``, after checking that a healthy transaction is open."""
        self.connection.execute(self._prepare_sql())

    def start_prepare(self) -> Callable[[], None] | None:
        """Send ``PREPARE TRANSACTION``; a callable that waits for it (None: cannot send)."""
        send = getattr(self.connection, "send", None)
        handle = send(self._prepare_sql()) if send is not None else None
        if handle is None:
            return None

        def finish() -> None:
            handle()

        return finish

    def commit_one_phase(self) -> None:
        """``COMMIT`` the active transaction."""
        self.connection.execute("COMMIT")

    def rollback(self) -> None:
        """``ROLLBACK`` the active transaction; errors of a dead session are ignored."""
        with contextlib.suppress(Exception):  # the server rolls back a dead session's work
            self.connection.execute("ROLLBACK")

    def commit_prepared(self, branch: BranchXid) -> bool:
        """``COMMIT PREPARED``; False if the gid does not exist."""
        return self._finish("COMMIT", branch)

    def rollback_prepared(self, branch: BranchXid) -> bool:
        """``ROLLBACK PREPARED``; False if the gid does not exist."""
        return self._finish("ROLLBACK", branch)

    def start_commit_prepared(self, branch: BranchXid) -> Callable[[], bool] | None:
        """Send ``COMMIT PREPARED`` (the session is idle: no transaction block); None: cannot."""
        send = getattr(self.connection, "send", None)
        handle = send(f"COMMIT PREPARED '{branch.gid}'") if send is not None else None
        if handle is None:
            return None

        def finish() -> bool:
            try:
                handle()
            except Exception as exc:
                if sqlstate(exc) == _UNDEFINED_OBJECT:
                    return False
                raise
            return True

        return finish

    def _finish(self, verb: str, branch: BranchXid) -> bool:
        try:
            self.connection.execute_outside_transaction(f"{verb} PREPARED '{branch.gid}'")
        except Exception as exc:
            if sqlstate(exc) == _UNDEFINED_OBJECT:
                return False
            raise
        return True

    def in_doubt(self) -> list[InDoubt]:
        """accord's prepared transactions in this database, with prepare time and xid."""
        if self.connection.execute("SELECT pg_is_in_recovery()")[0][0]:
            raise RecoveryError(
                f"database alias {self.alias!r} is a PostgreSQL standby (pg_is_in_recovery()): "
                "it cannot resolve prepared transactions; leave it out of RECOVERY_ALIASES "
                "and scan its primary"
            )
        rows = self.connection.execute(
            "SELECT gid, extract(epoch FROM prepared), transaction::text FROM pg_prepared_xacts "
            "WHERE database = current_database() AND gid LIKE 'accord:%%'"
        )
        found = []
        for gid, prepared, txid in rows:
            branch = parse_gid(gid)
            if branch is not None:
                found.append(InDoubt(branch, float(prepared), str(txid)))
        return found

    def resolved_as(self, doubt: InDoubt) -> str | None:
        """``"committed"``/``"rolled back"`` for a branch gone since *doubt* was read, if known."""
        if doubt.txid is None:
            return None
        xmax = int(
            self.connection.execute("SELECT txid_snapshot_xmax(txid_current_snapshot())")[0][0]
        )
        full = (xmax >> 32 << 32) | int(doubt.txid)  # the 32-bit xid in the current epoch
        if full >= xmax:
            full -= 1 << 32
        status = self.connection.execute("SELECT txid_status(%s)", (full,))[0][0]
        return {"committed": "committed", "aborted": "rolled back"}.get(str(status))
