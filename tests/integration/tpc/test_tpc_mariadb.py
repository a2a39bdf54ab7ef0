"""tpc.atomic with MariaDB (XA) beside PostgreSQL, including crashes and a live owner session."""

from __future__ import annotations

import os
import signal

import pytest
from test_tpc_crash import _wait_stopped
from tpc_helpers import Worker, accord_prepared, item_ids, query, settled_recovery

from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


def test_block_commits_on_postgresql_and_mariadb(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    result = pg_maria.run("write", item_id=4, aliases=["default", "ledger", "maria"])
    assert result["outcome"] == "committed"
    assert [item_ids(db) for db in (*postgres_databases, mysql_database)] == [[4], [4], [4]]
    assert not accord_prepared(mysql_database)


def test_exception_rolls_back_the_xa_branch(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    result = pg_maria.run("fail_in_block", item_id=4, aliases=["default", "maria"])
    assert result["error"] == "RuntimeError"
    assert item_ids(postgres_databases[0]) == item_ids(mysql_database) == []
    assert not accord_prepared(mysql_database)


def test_only_mariadb_wrote_commits_in_one_phase(
    pg_maria: Worker, mysql_database: ScratchDatabase
) -> None:
    result = pg_maria.run("write_some", item_id=2, writers=["maria"], aliases=["default", "maria"])
    assert result == {"outcome": "one-phase"}
    assert item_ids(mysql_database) == [2]


def test_decision_log_in_mariadb_is_the_last_resource(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    worker = pg_maria.with_tpc(DECISION_LOG="maria")
    xid = worker.run("write", item_id=5, aliases=["default", "maria"])["xid"]
    assert query(mysql_database, "SELECT xid, decision FROM accord_tpc_decision") == [
        (xid, "commit")
    ]
    assert item_ids(postgres_databases[0]) == item_ids(mysql_database) == [5]


@pytest.mark.parametrize(
    ("step", "committed"),
    [
        ("after-prepare-1", False),
        ("after-prepare-2", False),
        ("after-decision", True),
        ("after-commit-1", True),
    ],
)
def test_kill_with_an_xa_branch_prepared(
    pg_maria: Worker,
    postgres_databases: Pair,
    mysql_database: ScratchDatabase,
    step: str,
    committed: bool,
) -> None:
    aliases = ["default", "ledger", "maria"]
    pg_maria.killed("write", crash_at=step, item_id=1, aliases=aliases)
    settled_recovery(pg_maria)
    expected = [1] if committed else []
    assert [item_ids(db) for db in (*postgres_databases, mysql_database)] == [expected] * 3
    assert not accord_prepared(mysql_database)
    assert not any(accord_prepared(db) for db in postgres_databases)


def test_recovery_skips_a_branch_whose_owner_is_still_connected(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    aliases = ["default", "ledger", "maria"]
    proc = pg_maria.start("write", {"pause_at": "after-decision"}, item_id=1, aliases=aliases)
    _wait_stopped(proc.pid)
    report = pg_maria.run("recover")
    by_alias = {r["alias"]: r for r in report["resolutions"]}
    assert by_alias["maria"]["action"] == "busy"
    assert "still connected" in by_alias["maria"]["reason"]
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=30)
    assert '"outcome": "committed"' in out, err
    assert [item_ids(db) for db in (*postgres_databases, mysql_database)] == [[1]] * 3
    assert not accord_prepared(mysql_database)


@pytest.mark.parametrize(
    ("step", "committed"), [("after-prepare-1", False), ("after-decision", True)]
)
def test_kill_with_the_decision_log_in_mariadb(
    pg_maria: Worker,
    postgres_databases: Pair,
    mysql_database: ScratchDatabase,
    step: str,
    committed: bool,
) -> None:
    worker = pg_maria.with_tpc(DECISION_LOG="maria")
    worker.killed("write", crash_at=step, item_id=1, aliases=["default", "maria"])
    worker.run("recover")
    expected = [1] if committed else []
    assert item_ids(postgres_databases[0]) == item_ids(mysql_database) == expected
    assert not accord_prepared(postgres_databases[0])


def test_a_mariadb_branch_is_aged_from_its_prepare_not_from_its_start(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    worker = pg_maria.with_tpc(RECOVERY_DELAY=2)
    worker.run("write", item_id=9, aliases=["default", "maria"])
    proc = worker.start(
        "write_slowly",
        {"pause_at": "after-prepare-1"},  # the MariaDB branch is prepared, 3 s after it began
        item_id=1,
        aliases=["default", "maria"],
        sleep=3,
    )
    _wait_stopped(proc.pid)
    report = worker.run("recover")
    assert [r["action"] for r in report["resolutions"]] in (["in flight"], [])
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=30)
    assert '"outcome": "committed"' in out, err
    assert item_ids(postgres_databases[0]) == item_ids(mysql_database) == [1, 9]
