"""Fresh, empty PostgreSQL and MariaDB/MySQL databases for two-phase-commit tests.

Failure behaviour first: a missing driver, a server that cannot be reached,
or a server that cannot do two-phase commit (a PostgreSQL pointed at with
``max_prepared_transactions = 0``, MySQL without InnoDB XA) raises
:class:`~accord.testing.errors.ServiceUnavailable` whose message says how to fix
it. Dropping never raises: it is cleanup, and reports nothing.

The servers are found through environment variables (defaults in brackets):

- ``ACCORD_TEST_POSTGRES_URL``, a superuser (or a role with CREATEDB) on a
  maintenance database; unset, the default server
  (``postgresql://postgres@127.0.0.1:5432/postgres``) is used if it can prepare
  transactions, else a private cluster (:mod:`accord.testing.postgres`);
- ``ACCORD_TEST_MYSQL_URL`` [``mysql://root@127.0.0.1:3306/``], a user that
  may create databases, kill connections and run ``XA RECOVER``.

Databases get unique names (``accord_test_<pid>_<random>``). Dropping one
first rolls back the transactions left prepared in it, because a prepared
transaction holds locks that block ``DROP DATABASE``, and ends connections
still using it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from accord.core.urls import redact
from accord.testing import _env
from accord.testing.errors import ServiceUnavailable
from accord.testing.postgres import two_phase_postgres_url

__all__ = ["MySQLDatabase", "PostgresDatabases", "ScratchDatabase"]

POSTGRES = "PostgreSQL"
MYSQL = "MariaDB/MySQL"
_T = TypeVar("_T", bound="_Scratch")
_ENGINES = {"postgresql": "django.db.backends.postgresql", "mysql": "django.db.backends.mysql"}


@dataclass(frozen=True)
class ScratchDatabase:
    """Where one scratch database is: enough to connect with any driver or from Django."""

    vendor: str  # "postgresql" or "mysql"
    name: str
    host: str
    port: int
    user: str
    password: str
    #: A two-phase-commit node id unique to this scratch database (``ACCORD["TPC"]["NODE"]``):
    #: the MySQL cleanup rolls back only the XA branches that carry it. Empty for PostgreSQL.
    node: str = ""

    @property
    def url(self) -> str:
        """``vendor://user[:password]@host:port/name``."""
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"{self.vendor}://{auth}@{self.host}:{self.port}/{self.name}"

    def django_settings(self, **extra: Any) -> dict[str, Any]:
        """An entry for Django's ``DATABASES`` setting; ``extra`` keys are added to it."""
        return {
            "ENGINE": _ENGINES[self.vendor],
            "NAME": self.name,
            "HOST": self.host,
            "PORT": str(self.port),
            "USER": self.user,
            "PASSWORD": self.password,
            **extra,
        }


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def _server_of(url: str, vendor: str, default_port: int, default_user: str) -> ScratchDatabase:
    parts = urlsplit(url)
    return ScratchDatabase(
        vendor=vendor,
        name=unquote(parts.path.lstrip("/")),
        host=parts.hostname or "127.0.0.1",
        port=parts.port or default_port,
        user=unquote(parts.username or default_user),
        password=unquote(parts.password or ""),
    )


class _Scratch:
    """Shared context-manager plumbing: create on enter, drop on exit."""

    def create(self) -> Any:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        self.create()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.drop()


class PostgresDatabases(_Scratch):
    """``count`` fresh, empty databases on one PostgreSQL server able to prepare transactions.

    The server is the one at ``url`` (or ``$ACCORD_TEST_POSTGRES_URL``) when
    given; otherwise the default server if it can prepare transactions, else
    a private cluster (see :func:`~accord.testing.postgres.two_phase_postgres_url`).
    :attr:`admin_url` says which, once :meth:`create` has run.

    :meth:`create` raises :class:`ServiceUnavailable` if psycopg is missing, or
    no server able to prepare transactions can be reached or started (the
    message says why). :meth:`reset` empties them between tests;
    :meth:`drop` removes them and never raises.
    """

    def __init__(self, count: int = 2, *, url: str | None = None, prefix: str = "accord_test"):
        self._url = url
        self.admin_url = url or _env.url_from_env(_env.POSTGRES_URL)
        self.count = count
        self.prefix = prefix
        self.databases: list[ScratchDatabase] = []

    def _connect(self, dbname: str | None = None) -> Any:
        try:
            import psycopg
        except ImportError:
            raise ServiceUnavailable(
                POSTGRES, "the psycopg driver is not installed: pip install 'accord[postgres]'"
            ) from None
        try:
            if dbname:
                return psycopg.connect(
                    self.admin_url, autocommit=True, connect_timeout=5, dbname=dbname
                )
            return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            raise ServiceUnavailable(
                POSTGRES,
                f"cannot connect to {redact(self.admin_url)} ({exc}); start PostgreSQL "
                f"or set {_env.POSTGRES_URL} to a superuser URL",
            ) from exc

    def create(self) -> list[ScratchDatabase]:
        """Create the databases and return where they are; see the class for errors."""
        self.admin_url = two_phase_postgres_url(self._url)
        server = _server_of(self.admin_url, "postgresql", 5432, "postgres")
        with self._connect() as conn:
            from psycopg import sql

            for _ in range(self.count):
                name = _unique_name(self.prefix)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                self.databases.append(dataclasses.replace(server, name=name))
        return list(self.databases)

    def _rollback_prepared(self, name: str) -> None:
        from psycopg import sql

        with self._connect(name) as conn:
            rows = conn.execute(
                "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
            ).fetchall()
            for (gid,) in rows:
                conn.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid)))

    def reset(self) -> None:
        """Roll back leftover prepared transactions and drop every table (recreate ``public``).

        Raises :class:`ServiceUnavailable` if the server went away.
        """
        for db in self.databases:
            self._rollback_prepared(db.name)
            with self._connect(db.name) as conn:
                conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
                conn.execute("CREATE SCHEMA public")

    def drop(self) -> None:
        """Roll back what was left prepared in each database, end its sessions, drop it."""
        from psycopg import sql

        for db in self.databases:
            try:
                self._rollback_prepared(db.name)
                with self._connect() as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (db.name,),
                    )
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(db.name))
                    )
            except Exception:  # cleanup must not hide the test's own outcome
                pass
        self.databases.clear()


class MySQLDatabase(_Scratch):
    """One fresh, empty InnoDB database on a MariaDB/MySQL server that supports XA.

    :meth:`create` raises :class:`ServiceUnavailable` if mysqlclient is
    missing, the server is unreachable, or InnoDB lacks XA.

    XA branches are server-wide, not per database, and nothing on the server
    tells which database a prepared branch wrote to. So :meth:`reset` and
    :meth:`drop` roll back only the branches that are provably this
    database's: prepared after :meth:`create` (not listed by ``XA RECOVER``
    then) **and** carrying :attr:`ScratchDatabase.node`, either as the node of
    an accord xid (``accord:<node>:...``: set ``ACCORD["TPC"]["NODE"]`` to
    it) or as the prefix of the gtrid of an XID you make yourself. Branches
    of other test runs sharing the server are left alone.
    """

    def __init__(self, *, url: str | None = None, prefix: str = "accord_test"):
        self.admin_url = url or _env.url_from_env(_env.MYSQL_URL)
        self.prefix = prefix
        self.database: ScratchDatabase | None = None
        self._xids_before: set[tuple[int, bytes, bytes]] = set()
        self.node = f"t{secrets.token_hex(6)}"

    def _connect(self) -> Any:
        try:
            import MySQLdb
        except ImportError:
            raise ServiceUnavailable(
                MYSQL,
                "the mysqlclient driver is not installed: pip install 'accord[mysql]' "
                "(building it needs libmariadb-dev and pkg-config)",
            ) from None
        server = _server_of(self.admin_url, "mysql", 3306, "root")
        try:
            conn = MySQLdb.connect(
                host=server.host,
                port=server.port,
                user=server.user,
                password=server.password,
                connect_timeout=5,
            )
        except MySQLdb.Error as exc:
            raise ServiceUnavailable(
                MYSQL,
                f"cannot connect to {redact(self.admin_url)} ({exc}); start MariaDB "
                f"or set {_env.MYSQL_URL}",
            ) from exc
        conn.autocommit(True)
        return conn

    def _prepared_xids(self, cursor: Any) -> set[tuple[int, bytes, bytes]]:
        cursor.execute("XA RECOVER")
        xids = set()
        for format_id, gtrid_length, bqual_length, data in cursor.fetchall():
            data = data.encode() if isinstance(data, str) else bytes(data)
            gtrid, bqual = data[:gtrid_length], data[gtrid_length : gtrid_length + bqual_length]
            xids.add((int(format_id), gtrid, bqual))
        return xids

    def create(self) -> ScratchDatabase:
        """Create the database and return where it is; see the class for errors."""
        server = _server_of(self.admin_url, "mysql", 3306, "root")
        conn = self._connect()
        try:
            cursor = conn.cursor()
            cursor.execute(
                "SELECT SUPPORT, XA FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB'"
            )
            row = cursor.fetchone()
            if not row or row[0] not in ("YES", "DEFAULT") or row[1] != "YES":
                raise ServiceUnavailable(
                    MYSQL, f"InnoDB with XA support is required; the server reports {row}"
                )
            self._xids_before = self._prepared_xids(cursor)
            name = _unique_name(self.prefix)
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            self.database = dataclasses.replace(server, name=name, node=self.node)
        finally:
            conn.close()
        return self.database

    def owns(self, gtrid: bytes) -> bool:
        """Whether an XA branch with this gtrid is this database's (see the class)."""
        node = self.node.encode("ascii")
        return gtrid.startswith((node, b"accord:" + node + b":"))

    def _cleanup(self, cursor: Any, name: str) -> None:
        cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s", (name,))
        for (thread_id,) in cursor.fetchall():
            with contextlib.suppress(Exception):  # it may have ended meanwhile
                cursor.execute(f"KILL {int(thread_id)}")
        # XA ROLLBACK of a branch fails (XAER_NOTA) while its owner is still connected.
        for format_id, gtrid, bqual in self._prepared_xids(cursor) - self._xids_before:
            if not self.owns(gtrid):
                continue  # another test run's, or another application's: never ours to end
            cursor.execute(f"XA ROLLBACK X'{gtrid.hex()}', X'{bqual.hex()}', {format_id}")
        cursor.execute("SET SESSION lock_wait_timeout = 10")
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def reset(self) -> None:
        """Roll back this database's XA branches (see the class), then recreate it empty.

        Raises :class:`ServiceUnavailable` if the server went away.
        """
        if self.database is None:
            return
        conn = self._connect()
        try:
            cursor = conn.cursor()
            self._cleanup(cursor, self.database.name)
            cursor.execute(f"CREATE DATABASE `{self.database.name}` CHARACTER SET utf8mb4")
        finally:
            conn.close()

    def drop(self) -> None:
        """Roll back this database's XA branches (see the class), end its sessions, drop it."""
        if self.database is None:
            return
        try:
            conn = self._connect()
            try:
                self._cleanup(conn.cursor(), self.database.name)
            finally:
                conn.close()
        except Exception:  # cleanup must not hide the test's own outcome
            pass
        self.database = None
