"""The core participants on real servers through a bare driver adapter (no Django)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tpc_helpers import DriverSession, mysql_connect, pg_connect

from accord.core.errors import PrepareFailed
from accord.core.tpc.mysql import MySQLParticipant
from accord.core.tpc.postgresql import PostgresParticipant
from accord.core.tpc.xid import make_xid
from accord.testing.databases import ScratchDatabase

LOG = "0123456789abcdef"


@pytest.fixture
def pg(postgres_databases: tuple[ScratchDatabase, ScratchDatabase]) -> Iterator[DriverSession]:
    session = DriverSession(pg_connect(postgres_databases[0]), "postgresql")
    yield session
    session.close()


def test_postgresql_prepare_in_autocommit_is_refused_and_prepares_nothing(
    pg: DriverSession,
) -> None:
    participant = PostgresParticipant(pg, "pg")
    participant.begin(make_xid("n").branch(1, LOG))
    with pytest.raises(PrepareFailed, match="not in a healthy transaction"):
        participant.prepare()
    assert participant.in_doubt() == []


def test_postgresql_prepared_branch_is_listed_and_committed_from_another_session(
    pg: DriverSession, postgres_databases: tuple[ScratchDatabase, ScratchDatabase]
) -> None:
    branch = make_xid("n").branch(1, LOG)
    pg.raw.autocommit = False
    participant = PostgresParticipant(pg, "pg")
    participant.begin(branch)
    pg.execute("CREATE TABLE t (id int)")
    participant.prepare()
    pg.raw.autocommit = True
    other = PostgresParticipant(DriverSession(pg_connect(postgres_databases[0]), "postgresql"), "x")
    assert [d.branch for d in other.in_doubt()] == [branch]
    assert other.commit_prepared(branch) is True
    assert other.commit_prepared(branch) is False  # already resolved: not an error
    other.connection.close()


def test_mariadb_branch_of_a_connected_owner_is_busy_then_free_once_it_leaves(
    mysql_database: ScratchDatabase,
) -> None:
    from accord.core.tpc.contract import BranchBusy

    owner = DriverSession(mysql_connect(mysql_database), "mysql")
    owner.execute("CREATE TABLE t (id INT) ENGINE=InnoDB")
    branch = make_xid(mysql_database.node).branch(2, LOG)
    participant = MySQLParticipant(owner, "maria")
    participant.begin(branch)
    owner.execute("INSERT INTO t VALUES (1)")
    participant.prepare()
    recovery = MySQLParticipant(DriverSession(mysql_connect(mysql_database), "mysql"), "maria")
    try:
        with pytest.raises(BranchBusy, match="still connected"):
            recovery.commit_prepared(branch)
        owner.close()
        deadline = time.monotonic() + 10  # the server notices the disconnect asynchronously
        while True:
            try:
                assert recovery.commit_prepared(branch) is True
                break
            except BranchBusy:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert recovery.connection.execute("SELECT id FROM t") == [(1,)]
    finally:
        recovery.connection.close()
