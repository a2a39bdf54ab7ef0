"""Django database connections as the core's :class:`~accord.core.tpc.contract.SQLConnection`.

Failure behaviour first: statements raise Django's database exceptions
(``IntegrityError``, ``OperationalError``, ...) with the driver's exception
as ``__cause__``, where the core reads the SQLSTATE or error number.
Opening a fresh session raises Django's ``OperationalError`` when the server
is down.

Statements accord sends itself go straight to the driver's cursor, so they
pass neither Django's execute wrappers nor its query log. The application's
statements in a ``tpc.atomic`` block are watched by an execute wrapper that
counts the ones that may write (anything but ``SELECT``, ``SHOW``,
``EXPLAIN``, ``SET``, ``LISTEN``/``NOTIFY`` and savepoint statements). A
count above zero saves the participant a question to the server; at zero the
participant asks the server, because writes can bypass the wrapper
(``cursor.callproc()``, a function called from a ``SELECT``, the raw driver
connection).
"""

from __future__ import annotations

import contextlib
import math
import re
import select
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from accord.core.errors import MissingDependency

__all__ = ["DjangoSQLConnection", "database", "fresh_connection"]

# What Django says when a backend's driver is missing, and the extra that installs it.
_DRIVERS = {"psycopg": ("postgres", "psycopg"), "MySQLdb": ("mysql", "mysqlclient")}


def database(alias: str) -> BaseDatabaseWrapper:
    """``django.db.connections[alias]``, with a missing driver named by the extra to install.

    Raises :class:`~accord.core.errors.MissingDependency` (an ``ImportError``)
    naming ``accord[postgres]`` or ``accord[mysql]`` when Django cannot load
    the database's driver (its ``ImproperlyConfigured`` is chained); other
    errors are Django's own (``ConnectionDoesNotExist`` for an unknown alias).
    """
    try:
        return connections[alias]
    except ImproperlyConfigured as exc:
        for marker, (extra, package) in _DRIVERS.items():
            if marker in str(exc):
                raise MissingDependency(
                    f"two-phase commit on database {alias!r} needs the {package!r} driver, "
                    f"which is not installed ({' '.join(str(exc).split())}). Install it with: "
                    f'pip install "accord[{extra}]"'
                ) from exc
        raise


_READ_ONLY = re.compile(
    r"\s*(SELECT|SHOW|EXPLAIN|SET|SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO\s+SAVEPOINT"
    r"|NOTIFY|LISTEN|UNLISTEN)\b",
    re.IGNORECASE,
)


_IDLE = 0  # libpq's PQTRANS_IDLE: no transaction open
_INTRANS = 2  # PQTRANS_INTRANS: idle in a healthy transaction


def _begin_statement(raw: Any) -> str:
    """The ``BEGIN`` psycopg 3 itself sends on *raw* before its first statement."""
    parts = ["BEGIN"]
    if raw.isolation_level is not None:
        from psycopg import IsolationLevel

        level = IsolationLevel(raw.isolation_level).name.replace("_", " ")
        parts.append(f"ISOLATION LEVEL {level}")
    if raw.read_only is not None:
        parts.append("READ ONLY" if raw.read_only else "READ WRITE")
    if raw.deferrable is not None:
        parts.append("DEFERRABLE" if raw.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


_SAFE_TEXT = re.compile(r"[A-Za-z0-9_:,.\-]*")
_driver: Any = None
#: PostgreSQL's name of the common client encodings -> Python's (psycopg's own mapping).
_ENCODINGS = {b"UTF8": "utf-8", b"SQL_ASCII": "ascii"}


def _psycopg() -> Any:
    """psycopg 3's pieces :meth:`DjangoSQLConnection.send` uses, imported once."""
    global _driver
    if _driver is None:
        from types import SimpleNamespace

        from psycopg import ClientCursor, errors, generators, pq

        _driver = SimpleNamespace(
            ClientCursor=ClientCursor,
            errors=errors,
            generators=generators,
            FATAL_ERROR=pq.ExecStatus.FATAL_ERROR,
        )
    return _driver


def _replies(raw: Any, pgconn: Any, driver: Any) -> list[Any]:
    """Every result of the statement sent on *pgconn*, once the server has answered.

    What psycopg's own wait does, minus its generator machinery, which costs
    about twice the CPU time when the reply is slow to come (a statement that
    flushes the WAL): wait with ``select`` (the GIL released, signals
    handled), read, then take the results; notifications that came with them
    go to psycopg's handlers, as psycopg would pass them. An interrupt
    (``KeyboardInterrupt``) while waiting cancels the statement on the server,
    as psycopg does, before it propagates.
    """
    fd = pgconn.socket
    try:
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            select.select((fd,), (), ())
    except BaseException as exc:
        if not isinstance(exc, Exception):  # interrupted: leave the session usable
            with contextlib.suppress(Exception):
                (getattr(raw, "cancel_safe", None) or raw.cancel)()  # cancel_safe: psycopg 3.2
                raw.wait(driver.generators.fetch_many(pgconn), timeout=5.0)
        raise
    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    handler = pgconn.notify_handler
    while notify := pgconn.notifies():
        if handler:
            handler(notify)
    return results


def _inline(sql: str, params: Sequence[Any]) -> str | None:
    """*sql* with its ``%s`` replaced by *params* as SQL literals, when all are plain values.

    Plain: None, int, finite float, and text of letters, digits and ``_:,.-``:
    their literal is the one psycopg's ``mogrify`` writes (``'text'``, ``12``,
    ``1.5``), without building a cursor. None when a value is anything else.
    """
    if not params:
        return sql
    literals = []
    for value in params:
        kind = type(value)
        if value is None:
            literals.append("NULL")
        elif kind is int:
            literals.append(str(value))
        elif kind is float and math.isfinite(value):
            literals.append(repr(value))
        elif kind is str and _SAFE_TEXT.fullmatch(value):
            literals.append(f"'{value}'")
        else:
            return None
    return sql % tuple(literals)


#: An idle session unused for longer than this is pinged before the decision log reuses it.
IDLE_PING = 10.0


class DjangoSQLConnection:
    """A Django ``DatabaseWrapper`` seen through the core's session contract.

    ``owned`` sessions (made by :func:`fresh_connection`) are closed by
    :meth:`close`; the thread's own connections are left to Django.
    """

    def __init__(self, wrapper: BaseDatabaseWrapper, alias: str, *, owned: bool = False) -> None:
        self.wrapper = wrapper
        self.alias = alias
        self.vendor: str = wrapper.vendor
        self.owned = owned
        self._writes = 0
        self._last_used = time.monotonic()

    def _raw(self) -> Any:
        raw = self.wrapper.connection
        if raw is None:
            self.wrapper.ensure_connection()
            raw = self.wrapper.connection
        return raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run *sql* on the driver's cursor; the rows it returned."""
        self._last_used = time.monotonic()
        cursor = self._raw().cursor()
        try:
            with self.wrapper.wrap_database_errors:  # Django's exceptions, driver's as cause
                cursor.execute(sql, tuple(params) if params else None)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def send(self, sql: str, params: Sequence[Any] = ()) -> Callable[[], int] | None:
        """Send *sql* without waiting for its reply; a callable that waits and returns its rows.

        The callable returns the number of rows the statement returned.

        Lets the coordinator start the same step on several databases before
        waiting for any (their round trips and fsyncs overlap), on one thread.
        None when the driver cannot (psycopg 2): the caller then uses
        :meth:`execute`. Errors are raised by the callable, as :meth:`execute`
        raises them; the session must not be used before it is called.
        """
        self._last_used = time.monotonic()
        raw = self._raw()
        if self.vendor == "postgresql" and hasattr(raw, "pgconn") and hasattr(raw, "wait"):
            return self._send_psycopg(raw, sql, params)
        if self.vendor == "mysql" and hasattr(raw, "send_query"):
            return self._send_mysqldb(raw, sql, params)
        return None

    def start_transaction(self) -> Callable[[], int] | None:
        """Send the driver's ``BEGIN`` now, as :meth:`send` does; None: the driver opens it lazily.

        psycopg 3 opens a transaction with its own ``BEGIN`` (isolation level,
        read only, deferrable as configured) before the first statement, one
        round trip of its own per database; sent here for several databases
        before any reply is read, they share one. psycopg then sees the
        transaction open and sends no ``BEGIN`` of its own. None when the
        session is in autocommit mode, already in a transaction, or not on
        psycopg 3.
        """
        if self.vendor != "postgresql":
            return None
        raw = self._raw()
        pgconn = getattr(raw, "pgconn", None)
        if pgconn is None or not hasattr(raw, "wait") or raw.autocommit:
            return None
        if pgconn.transaction_status != _IDLE:
            return None
        return self._send_psycopg(raw, _begin_statement(raw), ())

    def _send_psycopg(self, raw: Any, sql: str, params: Sequence[Any]) -> Callable[[], int]:
        driver = _psycopg()
        pgconn = raw.pgconn
        encoding = _ENCODINGS.get(pgconn.parameter_status(b"client_encoding")) or raw.info.encoding
        text = _inline(sql, params)
        if text is None:  # a value that needs the driver's quoting
            text = driver.ClientCursor(raw).mogrify(sql, tuple(params))
        with self.wrapper.wrap_database_errors:
            pgconn.send_query(text.encode(encoding))
            if pgconn.flush():  # not all sent at once: let psycopg wait for the socket
                raw.wait(driver.generators.send(pgconn))

        def finish() -> int:
            rows = 0
            with self.wrapper.wrap_database_errors:
                for result in _replies(raw, pgconn, driver):
                    if result.status == driver.FATAL_ERROR:
                        raise driver.errors.error_from_result(result, encoding=encoding)
                    rows = result.ntuples
            return rows

        return finish

    def _send_mysqldb(self, raw: Any, sql: str, params: Sequence[Any]) -> Callable[[], int]:
        cursor = raw.cursor()
        try:
            text = cursor.mogrify(sql, tuple(params)) if params else sql
        finally:
            cursor.close()
        with self.wrapper.wrap_database_errors:
            raw.send_query(text.encode(raw.encoding) if isinstance(text, str) else text)

        def finish() -> int:
            with self.wrapper.wrap_database_errors:
                raw.read_query_result()
                result = raw.store_result()
                return int(result.num_rows()) if result is not None else 0

        return finish

    def execute_outside_transaction(self, sql: str) -> None:
        """Run *sql* with the driver in autocommit mode, then restore the mode."""
        raw = self._raw()
        if self.vendor != "postgresql" or raw.autocommit:
            self.execute(sql)
            return
        raw.autocommit = True  # psycopg would open a transaction block otherwise
        try:
            self.execute(sql)
        finally:
            raw.autocommit = False

    def in_transaction(self) -> bool:
        """True when the driver reports a healthy open transaction (PostgreSQL: INTRANS)."""
        raw = self._raw()
        pgconn = getattr(raw, "pgconn", None)  # psycopg 3
        if pgconn is not None:
            return bool(pgconn.transaction_status == _INTRANS)
        status = getattr(raw, "get_transaction_status", None)  # psycopg 2
        if status is not None:
            return bool(status() == 2)
        return True

    def wrote(self) -> bool:
        """False only when every statement since :meth:`reset_writes` was a read."""
        return self._writes > 0

    def reset_writes(self) -> None:
        """Forget earlier statements."""
        self._writes = 0

    def track(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        """A Django execute wrapper that counts the statements that may write."""
        if not _READ_ONLY.match(sql):
            self._writes += 1
        return execute(sql, params, many, context)

    def close(self) -> None:
        """Close the session if this adapter opened it."""
        if self.owned:
            self.wrapper.close()

    def usable(self) -> bool:
        """Whether an idle session can still be used, without a round trip when recently used.

        Anything readable on an idle session's socket means the server ended it
        (or is about to: PostgreSQL sends its reason first); a session idle for
        more than :data:`IDLE_PING` seconds is also pinged, for silent drops.
        """
        raw = self.wrapper.connection
        if raw is None:
            return False
        try:
            readable, _, _ = select.select([raw.fileno()], [], [], 0)
        except (OSError, ValueError):  # closed already
            return False
        if readable:
            return False
        if time.monotonic() - self._last_used > IDLE_PING:
            return bool(self.wrapper.is_usable())
        return True

    def abandon(self) -> None:
        """End the session now, from any thread (a prepared MariaDB branch is then free)."""
        raw = self.wrapper.connection
        if raw is not None:
            with contextlib.suppress(Exception):
                raw.close()  # the driver's close: Django's would refuse another thread


def fresh_connection(alias: str) -> DjangoSQLConnection:
    """A new autocommit session on *alias*, apart from the thread's connection."""
    wrapper = connections.create_connection(alias)
    wrapper.ensure_connection()
    return DjangoSQLConnection(wrapper, alias, owned=True)
