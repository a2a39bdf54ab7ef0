"""The decision log as tables in a SQL database (PostgreSQL or MySQL/MariaDB).

Failure behaviour first: :meth:`SQLDecisionLog.log_commit` raises
:class:`~accord.core.errors.TransactionFenced` when recovery already recorded
abort for the xid (or the xid is older than the purge horizon); every failure
of the log's database (down, refusing, the session lost) raises
:class:`~accord.core.errors.DecisionLogError` naming the alias and what the
database said, with the driver's error as ``__cause__`` and ``refused`` telling
whether the database answered (nothing written) or the session was lost.
:meth:`decide` returns ``None`` when it could not get
the row lock in time (a coordinator is writing its decision right now), so
recovery tries again later. Missing tables raise
:class:`~accord.core.errors.ConfigurationError` naming the migration to run.

Three tables, created by the Django app's migrations:

=========================  ====================================================
``accord_tpc_decision``    one row per decided global transaction: presumed
                           abort, so commit rows are the rule; abort rows are
                           recovery's fences and operators' heuristic rollbacks
``accord_tpc_log``         one row: the log's identity (see
                           :mod:`~accord.core.tpc.xid`) and the purge horizon
``accord_tpc_sighting``    when recovery first saw an undecided branch whose
                           server does not record its prepare time (MySQL)
=========================  ====================================================

The xid is the decision table's primary key, so whichever of the coordinator
(commit) and recovery (abort) inserts first wins, and the other's insert finds
the row. When the log's database takes part in the transaction, the commit row
is inserted in that participant's own transaction (logging last resource): the
participant's local commit is the commit point, saving the prepare and one
fsync. On PostgreSQL that commit is made synchronous (``synchronous_commit``
raised from ``off`` to ``on`` for that one transaction), in the same statement
as the insert: a decision acknowledged but not on disk would be lost by a
crash while other databases commit. MySQL has no per-transaction setting: the
system checks report ``innodb_flush_log_at_trx_commit`` instead.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, cast

from accord.core.errors import (
    AccordError,
    ConfigurationError,
    DecisionConflict,
    DecisionLogError,
    TransactionFenced,
)
from accord.core.tpc import mysql, postgresql
from accord.core.tpc.contract import (
    COMMIT,
    COORDINATOR,
    Decision,
    Record,
    Source,
    SQLConnection,
    legacy_classify,
)
from accord.core.tpc.xid import LOG_ID_LENGTH, Xid

__all__ = ["LOG_TABLE", "SIGHTING_TABLE", "TABLE", "SQLDecisionLog"]

TABLE = "accord_tpc_decision"
LOG_TABLE = "accord_tpc_log"
SIGHTING_TABLE = "accord_tpc_sighting"
_DUPLICATE = {"23505", 1062}  # unique_violation / ER_DUP_ENTRY
_LOCK_TIMEOUT = {"55P03", 1205}  # lock_not_available / ER_LOCK_WAIT_TIMEOUT
_NO_TABLE = {"42P01", 1146}  # undefined_table / ER_NO_SUCH_TABLE
#: not_null_violation (fenced: the decision's value is NULL), unique_violation (a
#: decision exists): see commit_within.
_NOT_INSERTED = {"23502", "23505"}
_COLUMNS = "xid, decision, participants, created, source"
_DURABLE_PG = (  # true, and raises synchronous_commit for this transaction if it was off
    "(CASE WHEN current_setting('synchronous_commit') = 'off' "
    "THEN set_config('synchronous_commit', 'on', true) ELSE 'on' END) IS NOT NULL"
)


def _code(exc: BaseException) -> str | int | None:
    """The SQLSTATE or MySQL error number behind *exc*, as the two participants read them."""
    return postgresql.sqlstate(exc) or mysql.errno(exc)


def _error_table(exc: BaseException) -> str | None:
    """The table a PostgreSQL error names (``diag.table_name``), following the causes."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            break
        table = getattr(getattr(current, "diag", None), "table_name", None)
        if table:
            return str(table)
        current = current.__cause__ or current.__context__
    return None


class SQLDecisionLog:
    """Decisions in the tables of database *alias* (see the module docstring).

    *connect* opens a new autocommit session on that database; the log keeps
    one for its own writes and lookups (so a log object belongs to one
    thread), checked before each use when the session offers ``usable()``.
    """

    def __init__(self, alias: str, connect: Callable[[], SQLConnection], *, url: str = "") -> None:
        self.alias = alias
        self.url = url or f"django://{alias}"
        self._connect = connect
        self._own: SQLConnection | None = None
        self._identity: str | None = None
        self._returning = True  # INSERT ... RETURNING (PostgreSQL, MariaDB; not MySQL)

    # -- the log's own session ---------------------------------------------------------

    def _session(self) -> SQLConnection:
        if self._own is not None:
            usable = getattr(self._own, "usable", None)
            if usable is not None and not usable():
                self.close()  # ended while idle (wait_timeout, idle_session_timeout)
        if self._own is None:
            try:
                own = self._connect()
            except AccordError:
                raise
            except Exception as exc:
                raise self._failed("cannot connect to", exc) from exc
            if own.vendor not in ("postgresql", "mysql"):
                with contextlib.suppress(Exception):
                    own.close()
                raise ConfigurationError(
                    f"the decision log database {self.alias!r} is {own.vendor}; "
                    "accepted: PostgreSQL or MySQL/MariaDB"
                )
            if own.vendor == "mysql":
                version = str(own.execute("SELECT VERSION()")[0][0])
                self._returning = "mariadb" in version.lower()
            self._own = own
        return self._own

    @contextlib.contextmanager
    def _own_session(self) -> Iterator[SQLConnection]:
        """The log's own session; dropped after an unexpected error, so the next call reconnects."""
        conn = self._session()
        try:
            yield conn
        except Exception as exc:
            code = _code(exc)
            if code in _NO_TABLE:
                raise ConfigurationError(
                    f"the decision-log tables are missing in database {self.alias!r}: run "
                    f"manage.py migrate accord --database {self.alias}"
                ) from exc
            if code not in _DUPLICATE | _LOCK_TIMEOUT:
                self.close()
            if isinstance(exc, AccordError):
                raise
            raise self._failed("failed on", exc, vendor=conn.vendor) from exc

    def _failed(self, what: str, exc: BaseException, *, vendor: str = "") -> DecisionLogError:
        """The error for a failure of the log's database: what it said, and whether it answered."""
        if vendor == "postgresql":
            kind = postgresql.classify(exc)
        elif vendor == "mysql":
            kind = mysql.classify(exc)
        else:  # not connected yet: whichever database's code it carries
            kind = legacy_classify(exc)
        refused = kind == "refused"
        return DecisionLogError(
            f"the decision log {what} database {self.alias!r}: {type(exc).__name__}: "
            f"{str(exc).strip()}",
            refused=refused,
        )

    def close(self) -> None:
        """Close the log's own session, if open."""
        if self._own is not None:
            own, self._own = self._own, None
            with contextlib.suppress(Exception):
                own.close()

    # -- identity ----------------------------------------------------------------------

    def identity(self) -> str:
        """The log's identity, made (insert-if-absent) and cached on first use."""
        if self._identity is None:
            with self._own_session() as conn:
                rows = conn.execute(f"SELECT identity FROM {LOG_TABLE} WHERE id = 1")
                if not rows:
                    made = secrets.token_hex(LOG_ID_LENGTH // 2)
                    conn.execute(
                        self._insert_ignore(conn, LOG_TABLE, "id, identity, purged_before")
                        + " VALUES (1, %s, 0)"
                        + self._on_conflict(conn, "id"),
                        (made,),
                    )
                    rows = conn.execute(f"SELECT identity FROM {LOG_TABLE} WHERE id = 1")
            self._identity = str(rows[0][0])
        return self._identity

    @staticmethod
    def _insert_ignore(conn: SQLConnection, table: str, columns: str) -> str:
        verb = "INSERT" if conn.vendor == "postgresql" else "INSERT IGNORE"
        return f"{verb} INTO {table} ({columns})"

    @staticmethod
    def _on_conflict(conn: SQLConnection, key: str) -> str:
        return f" ON CONFLICT ({key}) DO NOTHING" if conn.vendor == "postgresql" else ""

    # -- decisions ---------------------------------------------------------------------

    def shares_transaction_with(self, connection: SQLConnection) -> bool:
        """True for a session of the log's own database alias."""
        return connection.alias == self.alias

    def _insert_sql(
        self,
        conn: SQLConnection,
        xid: Xid,
        decision: Decision,
        source: Source,
        participants: Sequence[str],
    ) -> tuple[str, list[Any]]:
        """The insert-if-absent statement, returning the row when it inserted (not MySQL).

        A commit is inserted only while the xid is not older than the purge
        horizon, and durably on PostgreSQL whatever ``synchronous_commit`` says.
        """
        names = ",".join(participants)[:1000]
        params: list[Any] = [str(xid), decision, names, time.time(), source]
        where = ["id = 1"]
        if decision == COMMIT:
            where.append("purged_before <= %s")
            params.append(xid.started)
        postgres = conn.vendor == "postgresql"
        if postgres:
            where.append(_DURABLE_PG)
        sql = (
            f"INSERT INTO {TABLE} ({_COLUMNS}) SELECT %s, %s, %s, %s, %s FROM {LOG_TABLE} "
            f"WHERE {' AND '.join(where)}"
        )
        if postgres:
            sql += " ON CONFLICT (xid) DO NOTHING RETURNING xid"
        elif self._returning:
            sql += " RETURNING xid"
        return sql, params

    def _insert(
        self,
        conn: SQLConnection,
        xid: Xid,
        decision: Decision,
        source: Source,
        participants: Sequence[str],
    ) -> bool:
        """Insert-if-absent the decision (:meth:`_insert_sql`); whether this call inserted it."""
        sql, params = self._insert_sql(conn, xid, decision, source, participants)
        try:
            if conn.vendor == "postgresql" or self._returning:
                return bool(conn.execute(sql, params))
            conn.execute(sql, params)
            return bool(conn.execute("SELECT ROW_COUNT()")[0][0] == 1)
        except Exception as exc:
            if _code(exc) in _DUPLICATE:  # MySQL: the statement failed, not the transaction
                return False
            raise

    def commit_within(self, xid: Xid, participants: Sequence[str], within: SQLConnection) -> bool:
        """PostgreSQL: insert the commit row into *within*'s transaction and commit it, at once.

        One round trip instead of two. False when *within* cannot (not
        PostgreSQL, or no ``send``): the caller then uses :meth:`log_commit` and
        commits. Raises :class:`TransactionFenced` when a decision (an abort)
        or the purge horizon stopped the insert, and
        :class:`~accord.core.errors.DecisionConflict` when an operator recorded
        commit meanwhile (*within*'s transaction, aborted, holds no writes any
        more); the driver's error otherwise, as for a ``COMMIT``.

        A plain ``INSERT ... VALUES``, the cheapest insert for the server to
        plan and run: the decision's value is read from the log's row, NULL
        (so a not-null violation) when the purge horizon fences the xid; an
        existing decision is a unique violation. Either error keeps the
        ``COMMIT`` after it from running, and names the decision table (a
        deferred constraint of the application's failing at ``COMMIT`` does not).
        """
        send = getattr(within, "send", None)
        if within.vendor != "postgresql" or send is None:
            return False
        names = ",".join(participants)[:1000]
        handle = send(
            f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (%s, (SELECT CASE WHEN purged_before <= %s "
            f"AND {_DURABLE_PG} THEN '{COMMIT}' END FROM {LOG_TABLE} WHERE id = 1), "
            "%s, %s, %s); COMMIT",
            (str(xid), xid.started, names, time.time(), COORDINATOR),
        )
        if handle is None:
            return False
        try:
            handle()
        except Exception as exc:
            if _code(exc) not in _NOT_INSERTED or _error_table(exc) != TABLE:
                raise
            standing = self.lookup(xid)  # on the log's own session: *within* is aborted
            if standing is not None and standing.decision == COMMIT:
                raise DecisionConflict(
                    f"an operator recorded commit for {xid} while its coordinator ran; the "
                    f"coordinator's writes on {within.alias!r} were rolled back, the other "
                    "databases will be committed by recovery: a heuristic hazard"
                ) from exc
            self._standing_commit(xid, standing)
        return True

    def log_commit(
        self, xid: Xid, participants: Sequence[str], within: SQLConnection | None
    ) -> None:
        """Insert the commit row, in *within*'s transaction or on its own; see the class."""
        if within is not None:
            try:
                if self._insert(within, xid, COMMIT, COORDINATOR, participants):
                    return
                standing = self._lookup(within, xid, locking=True)
            except Exception as exc:
                raise self._failed(f"insert of {xid} failed on", exc, vendor=within.vendor) from exc
        else:
            with self._own_session() as conn:
                if self._insert(conn, xid, COMMIT, COORDINATOR, participants):
                    return
                standing = self._lookup(conn, xid)
        self._standing_commit(xid, standing)

    @staticmethod
    def _standing_commit(xid: Xid, standing: Record | None) -> None:
        """Return if *standing* is a commit (an operator's); else raise TransactionFenced."""
        if standing is not None and standing.decision == COMMIT:
            return  # an operator decided commit first: the coordinator agrees
        if standing is None:
            raise TransactionFenced(
                f"{xid} was not committed: it began before the decision log's purge horizon "
                "(it ran longer than DECISION_RETENTION allows); all rolled back",
                xid=str(xid),
            )
        raise TransactionFenced(
            f"{xid} was not committed: {standing.source} had already recorded abort for it "
            "(its coordinator was slower than the recovery delay); all rolled back",
            xid=str(xid),
        )

    def decide(
        self,
        xid: Xid,
        decision: Decision,
        *,
        source: Source,
        participants: Sequence[str],
        wait: float,
    ) -> Record | None:
        """Insert *decision* unless one exists; the record that stands, or None (lock timeout)."""
        with self._own_session() as conn:
            if conn.vendor == "postgresql":
                conn.execute(f"SET lock_timeout = {max(1, int(wait * 1000))}")
            else:
                conn.execute(f"SET SESSION innodb_lock_wait_timeout = {max(1, round(wait))}")
            try:
                self._insert(conn, xid, decision, source, participants)
            except Exception as exc:
                if _code(exc) in _LOCK_TIMEOUT:
                    return None
                raise
            return self._lookup(conn, xid)

    def lookup(self, xid: Xid) -> Record | None:
        """The decision recorded for *xid*, or None."""
        with self._own_session() as conn:
            return self._lookup(conn, xid)

    @staticmethod
    def _lookup(conn: SQLConnection, xid: Xid, *, locking: bool = False) -> Record | None:
        # Inside a MySQL transaction a plain read sees its snapshot; a locking read
        # sees the row another session committed since.
        lock = " LOCK IN SHARE MODE" if locking and conn.vendor == "mysql" else ""
        rows = conn.execute(
            f"SELECT decision, source, participants, created FROM {TABLE} WHERE xid = %s{lock}",
            (str(xid),),
        )
        if not rows:
            return None
        decision, source, names, created = rows[0]
        return Record(
            decision=cast(Decision, decision),
            source=cast(Source, source or COORDINATOR),
            participants=tuple(n for n in (names or "").split(",") if n),
            created=float(created),
        )

    # -- sightings, purge, lock -----------------------------------------------------------

    def sightings(self, xids: Sequence[Xid]) -> dict[Xid, float]:
        """When recovery first saw each xid (recording now for the new ones)."""
        if not xids:
            return {}
        by_text = {str(x): x for x in xids}
        with self._own_session() as conn:
            marks = ", ".join(["%s"] * len(by_text))
            select = f"SELECT xid, seen FROM {SIGHTING_TABLE} WHERE xid IN ({marks})"
            seen = {row[0]: float(row[1]) for row in conn.execute(select, list(by_text))}
            now = time.time()
            for text in by_text.keys() - seen.keys():
                conn.execute(
                    self._insert_ignore(conn, SIGHTING_TABLE, "xid, seen")
                    + " VALUES (%s, %s)"
                    + self._on_conflict(conn, "xid"),
                    (text, now),
                )
            if by_text.keys() - seen.keys():
                seen = {row[0]: float(row[1]) for row in conn.execute(select, list(by_text))}
        return {by_text[text]: when for text, when in seen.items()}

    def purge(
        self, older_than: float, horizon: float, keep: Collection[Xid], scanned: Collection[str]
    ) -> int:
        """Raise the purge horizon, then delete what may go (see the contract)."""
        kept, allowed = {str(x) for x in keep}, set(scanned)
        with self._own_session() as conn:
            # The horizon first, in its own commit: from now on a coordinator whose
            # xid began before it cannot record commit, so a purged abort fence
            # cannot be overtaken by a coordinator that was paused all along.
            conn.execute(
                f"UPDATE {LOG_TABLE} SET purged_before = %s WHERE id = 1 AND purged_before < %s",
                (horizon, horizon),
            )
            rows = conn.execute(
                f"SELECT xid, decision, participants FROM {TABLE} WHERE created < %s",
                (older_than,),
            )
            doomed = [
                xid
                for xid, decision, names in rows
                if xid not in kept
                and (decision != COMMIT or set(filter(None, (names or "").split(","))) <= allowed)
            ]
            for start in range(0, len(doomed), 500):
                chunk = doomed[start : start + 500]
                marks = ", ".join(["%s"] * len(chunk))
                conn.execute(f"DELETE FROM {TABLE} WHERE xid IN ({marks})", chunk)
            conn.execute(f"DELETE FROM {SIGHTING_TABLE} WHERE seen < %s", (older_than,))
        return len(doomed)

    @contextlib.contextmanager
    def recovery_lock(self) -> Iterator[bool]:
        """A session-level advisory lock named for this log; yields whether it was free."""
        identity = self.identity()
        with self._own_session() as conn:
            if conn.vendor == "postgresql":
                key = int(identity[:15], 16)  # fits a signed bigint
                got = bool(conn.execute(f"SELECT pg_try_advisory_lock({key})")[0][0])
                unlock = f"SELECT pg_advisory_unlock({key})"
            else:
                name = f"accord_tpc_recovery_{identity}"
                got = conn.execute(f"SELECT GET_LOCK('{name}', 0)")[0][0] == 1
                unlock = f"SELECT RELEASE_LOCK('{name}')"
        try:
            yield got
        finally:
            if got:
                with contextlib.suppress(Exception):  # a closed session released it
                    conn.execute(unlock)
