"""The decision log as a table in a SQL database (PostgreSQL or MySQL/MariaDB).

Failure behaviour first: :meth:`SQLDecisionLog.log_commit` raises
:class:`~accord.core.errors.TransactionFenced` when recovery already recorded
abort for the xid, and the driver's error otherwise; :meth:`log_abort`
returns ``None`` when it could not get the row lock in time (a coordinator is
writing its decision right now), so recovery tries again later.

The table (``accord_tpc_decision``, created by the Django app's migration)
holds one row per decided global transaction: presumed abort means commit
rows are the rule and abort rows are written only by recovery, as a fence.
The xid is the primary key, so whichever of the coordinator (commit) and
recovery (abort) inserts first wins, and the other's insert fails or waits
for the first to end. When the log's database takes part in the transaction,
the commit row is inserted in that participant's own transaction (logging
last resource): the participant's local commit is the commit point, saving
the prepare and one fsync.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from accord.core.errors import ConfigurationError, TransactionFenced
from accord.core.tpc.contract import ABORT, COMMIT, Decision, SQLConnection, error_code
from accord.core.tpc.xid import Xid

__all__ = ["TABLE", "SQLDecisionLog"]

TABLE = "accord_tpc_decision"
_DUPLICATE = {"23505", 1062}  # unique_violation / ER_DUP_ENTRY
_LOCK_TIMEOUT = {"55P03", 1205}  # lock_not_available / ER_LOCK_WAIT_TIMEOUT
_LOCK_KEY = 0x6163636F72640001  # "accord" + 1: the recovery worker's advisory lock
_LOCK_NAME = "accord_tpc_recovery"


class SQLDecisionLog:
    """Decisions in table :data:`TABLE` of database *alias*.

    *connect* opens a new autocommit session on that database; the log keeps
    one for its own writes and lookups (so a log object belongs to one thread).
    """

    def __init__(self, alias: str, connect: Callable[[], SQLConnection], *, url: str = "") -> None:
        self.alias = alias
        self.url = url or f"django://{alias}"
        self._connect = connect
        self._own: SQLConnection | None = None

    def _session(self) -> SQLConnection:
        if self._own is None:
            self._own = self._connect()
            if self._own.vendor not in ("postgresql", "mysql"):
                vendor = self._own.vendor
                self.close()
                raise ConfigurationError(
                    f"the decision log database {self.alias!r} is {vendor}; "
                    "accepted: PostgreSQL or MySQL/MariaDB"
                )
        return self._own

    @contextlib.contextmanager
    def _own_session(self) -> Iterator[SQLConnection]:
        """The log's own session; dropped after an unexpected error, so the next call reconnects."""
        conn = self._session()
        try:
            yield conn
        except Exception as exc:
            if error_code(exc) not in _DUPLICATE | _LOCK_TIMEOUT:
                self.close()
            raise

    def close(self) -> None:
        """Close the log's own session, if open."""
        if self._own is not None:
            own, self._own = self._own, None
            with contextlib.suppress(Exception):
                own.close()

    def shares_transaction_with(self, connection: SQLConnection) -> bool:
        """True for a session of the log's own database alias."""
        return connection.alias == self.alias

    def _insert(self, conn: SQLConnection, xid: Xid, decision: Decision, names: str) -> None:
        conn.execute(
            f"INSERT INTO {TABLE} (xid, decision, participants, created) VALUES (%s, %s, %s, %s)",
            (str(xid), decision, names[:1000], time.time()),
        )

    def log_commit(
        self, xid: Xid, participants: Sequence[str], within: SQLConnection | None
    ) -> None:
        """Insert the commit row, in *within*'s transaction or on its own (autocommit)."""
        try:
            if within is not None:
                self._insert(within, xid, COMMIT, ",".join(participants))
            else:
                with self._own_session() as conn:
                    self._insert(conn, xid, COMMIT, ",".join(participants))
        except Exception as exc:
            if error_code(exc) in _DUPLICATE:
                raise TransactionFenced(
                    f"{xid} was not committed: recovery had already recorded abort for it "
                    "(its coordinator was slower than the recovery delay); all rolled back",
                    xid=str(xid),
                ) from exc
            raise

    def log_abort(self, xid: Xid, wait: float) -> Decision | None:
        """Insert an abort row unless a decision exists; the decision that stands, or None."""
        with self._own_session() as conn:
            if conn.vendor == "postgresql":
                conn.execute(f"SET lock_timeout = {max(1, int(wait * 1000))}")
            else:
                conn.execute(f"SET SESSION innodb_lock_wait_timeout = {max(1, round(wait))}")
            try:
                self._insert(conn, xid, ABORT, "")
            except Exception as exc:
                code = error_code(exc)
                if code in _LOCK_TIMEOUT:
                    return None
                if code in _DUPLICATE:
                    return self.lookup(xid)
                raise
        return ABORT

    def lookup(self, xid: Xid) -> Decision | None:
        """The decision recorded for *xid*, or None."""
        with self._own_session() as conn:
            rows = conn.execute(f"SELECT decision FROM {TABLE} WHERE xid = %s", (str(xid),))
        return cast(Decision, rows[0][0]) if rows else None

    def purge(self, older_than: float, keep: Sequence[Xid]) -> int:
        """Delete rows created before *older_than* (epoch seconds), except for *keep*."""
        with self._own_session() as conn:
            rows = conn.execute(f"SELECT xid FROM {TABLE} WHERE created < %s", (older_than,))
            kept = {str(x) for x in keep}
            doomed = [r[0] for r in rows if r[0] not in kept]
            for start in range(0, len(doomed), 500):
                chunk = doomed[start : start + 500]
                marks = ", ".join(["%s"] * len(chunk))
                conn.execute(f"DELETE FROM {TABLE} WHERE xid IN ({marks})", chunk)
        return len(doomed)

    @contextlib.contextmanager
    def recovery_lock(self) -> Iterator[bool]:
        """A session-level advisory lock on the log database; yields whether it was free."""
        with self._own_session() as conn:
            got = self._try_lock(conn)
        try:
            yield got
        finally:
            if got:
                with contextlib.suppress(Exception):  # a closed session released it
                    conn.execute(self._unlock_sql(conn))

    @staticmethod
    def _try_lock(conn: SQLConnection) -> bool:
        if conn.vendor == "postgresql":
            return bool(conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY})")[0][0])
        return bool(conn.execute(f"SELECT GET_LOCK('{_LOCK_NAME}', 0)")[0][0] == 1)

    @staticmethod
    def _unlock_sql(conn: SQLConnection) -> str:
        if conn.vendor == "postgresql":
            return f"SELECT pg_advisory_unlock({_LOCK_KEY})"
        return f"SELECT RELEASE_LOCK('{_LOCK_NAME}')"
