"""Two deployments on one MariaDB server: neither's recovery touches the other's branches.

MariaDB's ``XA RECOVER`` lists the prepared branches of the whole server, and
a user granted one schema may ``XA ROLLBACK`` any of them. Both deployments
here use the same NODE (as two projects keeping the default would).
"""

from __future__ import annotations

import pytest
from tpc_helpers import (
    DriverSession,
    Worker,
    accord_prepared,
    deployment,
    item_ids,
    mysql_connect,
    settled_recovery,
)

from accord.core.tpc.sqllog import SQLDecisionLog
from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


@pytest.fixture
def two_deployments(
    postgres_databases: Pair,
    mysql_database: ScratchDatabase,
    second_mysql_database: ScratchDatabase,
) -> tuple[Worker, Worker]:
    node = mysql_database.node  # one NODE for both: the collision the default makes
    first, second = postgres_databases
    a = deployment(first, mysql_database, NODE=node)
    b = deployment(second, second_mysql_database, NODE=node)
    return a, b


def test_recovery_leaves_another_deployments_committed_branch_alone(
    two_deployments: tuple[Worker, Worker],
    postgres_databases: Pair,
    second_mysql_database: ScratchDatabase,
) -> None:
    a, b = two_deployments
    a.run("write", item_id=9, aliases=["default", "maria"])  # sets A up
    b.killed("write", crash_at="after-decision", item_id=1, aliases=["default", "maria"])
    report = a.run("recover")
    assert report["resolutions"] == []
    assert len(accord_prepared(second_mysql_database)) == 1
    report = settled_recovery(b)
    assert item_ids(postgres_databases[1]) == item_ids(second_mysql_database) == [1], report[
        "resolutions"
    ]


def test_recovery_leaves_another_deployments_undecided_branch_alone(
    two_deployments: tuple[Worker, Worker], second_mysql_database: ScratchDatabase
) -> None:
    a, b = two_deployments
    a.run("write", item_id=9, aliases=["default", "maria"])
    b.killed("write", crash_at="after-prepare-1", item_id=1, aliases=["default", "maria"])
    assert a.run("recover")["resolutions"] == []
    assert len(accord_prepared(second_mysql_database)) == 1
    settled_recovery(b)
    assert accord_prepared(second_mysql_database) == []


def test_one_deployments_recovery_lock_does_not_lock_out_another(
    two_deployments: tuple[Worker, Worker],
    postgres_databases: Pair,
    mysql_database: ScratchDatabase,
) -> None:

    a, b = (w.with_tpc(DECISION_LOG="maria") for w in two_deployments)
    a.run("write", item_id=9, aliases=["default", "maria"])
    b.killed("write", crash_at="after-prepare-1", item_id=1, aliases=["default", "maria"])
    a_log = SQLDecisionLog("maria", lambda: DriverSession(mysql_connect(mysql_database), "mysql"))
    try:
        with a_log.recovery_lock() as held:  # A's recovery worker, running
            assert held
            report = b.run("recover")
    finally:
        a_log.close()
    assert report["locked_out"] is False
    assert [r["action"] for r in report["resolutions"]] == ["rolled back"]
    assert accord_prepared(postgres_databases[1]) == []
