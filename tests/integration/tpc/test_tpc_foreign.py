"""Recovery never touches prepared transactions that are not accord's, or another node's."""

from __future__ import annotations

from tpc_helpers import Worker, mysql_connect, pg_connect, query

from accord.core.tpc.xid import make_xid
from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


def _prepare_pg(db: ScratchDatabase, gid: str) -> None:
    conn = pg_connect(db)
    try:
        conn.autocommit = False
        conn.execute("SELECT 1")
        conn.execute(f"PREPARE TRANSACTION '{gid}'")
    finally:
        conn.close()


def test_foreign_and_other_node_postgresql_transactions_are_left_alone(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    other_node = make_xid("other-node").branch(1, "0123456789abcdef").gid
    for gid in ("someone-elses-gid", other_node):
        _prepare_pg(postgres_databases[1], gid)
    report = pg_pair.run("recover")
    assert report["resolutions"] == []
    rows = query(postgres_databases[1], "SELECT gid FROM pg_prepared_xacts")
    assert {r[0] for r in rows} >= {"someone-elses-gid", other_node}


def test_foreign_mariadb_branches_are_left_alone(
    pg_maria: Worker, mysql_database: ScratchDatabase
) -> None:
    conn = mysql_connect(mysql_database)
    try:
        cursor = conn.cursor()
        cursor.execute("CREATE TABLE theirs (id INT) ENGINE=InnoDB")
        for statement in (
            "XA START 'theirs'",
            "INSERT INTO theirs VALUES (1)",  # an empty branch would not roll back cleanly
            "XA END 'theirs'",
            "XA PREPARE 'theirs'",
        ):
            cursor.execute(statement)
    finally:
        conn.close()
    try:
        report = pg_maria.run("recover")
        assert report["resolutions"] == []
        assert any(bytes(r[3]) == b"theirs" for r in query(mysql_database, "XA RECOVER"))
    finally:
        query(mysql_database, "XA ROLLBACK 'theirs'")
