"""The decision log in ZooKeeper: commit, and recovery after a crash (two PostgreSQL databases)."""

from __future__ import annotations

import pytest
from tpc_helpers import Worker, accord_prepared, item_ids

from accord.testing.databases import ScratchDatabase
from accord.testing.servers import ZooKeeperServer

Pair = tuple[ScratchDatabase, ScratchDatabase]


@pytest.fixture
def zk_worker(pg_pair: Worker, zookeeper_server: ZooKeeperServer) -> Worker:
    return pg_pair.with_tpc(DECISION_LOG=f"zookeeper://{zookeeper_server.hosts}/accord/tpc")


def test_commit_with_the_decision_in_zookeeper(zk_worker: Worker, postgres_databases: Pair) -> None:
    assert zk_worker.run("write", item_id=3)["outcome"] == "committed"
    assert [item_ids(db) for db in postgres_databases] == [[3], [3]]


@pytest.mark.parametrize(
    ("step", "committed"), [("after-prepare-2", False), ("after-decision", True)]
)
def test_recovery_follows_the_zookeeper_log(
    zk_worker: Worker, postgres_databases: Pair, step: str, committed: bool
) -> None:
    zk_worker.killed("write", crash_at=step, item_id=1)
    zk_worker.run("recover")
    expected = [1] if committed else []
    assert [item_ids(db) for db in postgres_databases] == [expected, expected]
    assert not any(accord_prepared(db) for db in postgres_databases)
