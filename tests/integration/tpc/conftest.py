"""Fixtures for the two-phase-commit tests (helpers in tpc_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tpc_helpers import Worker

from accord.testing.databases import MySQLDatabase, PostgresDatabases, ScratchDatabase
from accord.testing.mariadb import MariaDBServer
from accord.testing.postgres import PostgresServer
from accord.testing.pytest_plugin import services
from accord.testing.standby import PostgresStandby


@pytest.fixture
def pg_pair(postgres_databases: tuple[ScratchDatabase, ScratchDatabase]) -> Worker:
    """A worker on two PostgreSQL databases ("default", "ledger"), tables created.

    The decision log is "default" (so "default" is the logging last resource);
    recovery acts at once (RECOVERY_DELAY 0).
    """
    first, second = postgres_databases
    worker = Worker(
        {"default": first.django_settings(), "ledger": second.django_settings()},
        {"RECOVERY_DELAY": 0},
    )
    worker.needs_setup = True
    return worker


@pytest.fixture
def pg_maria(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase], mysql_database: ScratchDatabase
) -> Worker:
    """A worker on "default", "ledger" (PostgreSQL) and "maria" (MariaDB); log in "default".

    NODE is the MariaDB scratch database's own node id, so that the cleanup
    between tests rolls back this run's XA branches and no one else's.
    """
    first, second = postgres_databases
    worker = Worker(
        {
            "default": first.django_settings(),
            "ledger": second.django_settings(),
            "maria": mysql_database.django_settings(),
        },
        {"RECOVERY_DELAY": 0, "NODE": mysql_database.node},
    )
    worker.needs_setup = True
    return worker


@pytest.fixture
def second_mysql_database() -> Iterator[ScratchDatabase]:
    """Another schema on the same MariaDB server, for a second deployment."""
    database = MySQLDatabase()
    with services():
        created = database.create()
    try:
        yield created
    finally:
        database.drop()


@pytest.fixture
def async_postgres() -> Iterator[tuple[PostgresServer, ScratchDatabase]]:
    """A private PostgreSQL that acknowledges commits before their WAL is written.

    ``synchronous_commit = off`` for every session (as a database or server
    default would set it), and a WAL writer that waits 10 s between flushes,
    so a crash right after a commit loses it. One scratch database on it.
    """
    server = PostgresServer(settings={"synchronous_commit": "off", "wal_writer_delay": "10s"})
    databases = PostgresDatabases(1)
    try:
        with services():
            server.start()
            databases = PostgresDatabases(1, url=server.url)
            databases.create()
        yield server, databases.databases[0]
    finally:
        databases.drop()
        server.close()


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[list[ScratchDatabase], PostgresStandby]]:
    """Two scratch databases on a private primary, and a hot standby that replicates them."""
    primary = PostgresServer()
    standby = PostgresStandby(primary)
    databases = PostgresDatabases(2)
    try:
        with services():
            primary.start()
            databases = PostgresDatabases(2, url=primary.url)
            databases.create()
            standby.start()
        yield databases.databases, standby
    finally:
        standby.close()
        databases.drop()
        primary.close()


@pytest.fixture
def maria_primary_and_replica() -> Iterator[tuple[ScratchDatabase, MariaDBServer, MariaDBServer]]:
    """A scratch database on a private MariaDB primary, and a writable replica of it.

    The replica replicates from before the database exists, so it applies
    everything: the schema, the rows, and the primary's ``XA PREPARE``.
    """
    primary, replica = MariaDBServer(server_id=1), MariaDBServer(server_id=2)
    database = MySQLDatabase(url=primary.url)
    try:
        with services():
            primary.start()
            replica.start()
            replica.replicate_from(primary)
            created = database.create()
        yield created, primary, replica
    finally:
        database.drop()
        replica.close()
        primary.close()
