"""The decision log in ZooKeeper: commit, and recovery after a crash (two PostgreSQL databases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def _anonymous(zookeeper_server: ZooKeeperServer) -> Any:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zookeeper_server.hosts, timeout=5.0)
    client.start(timeout=10.0)
    return client


@pytest.fixture
def protected_url(zookeeper_server: ZooKeeperServer) -> Iterator[str]:
    """A decision log URL with credentials; its znodes are removed with them afterwards."""
    from kazoo.client import KazooClient

    yield f"zookeeper://alice:secret@{zookeeper_server.hosts}/accord/tpc"
    client = KazooClient(
        hosts=zookeeper_server.hosts, timeout=5.0, auth_data=[("digest", "alice:secret")]
    )
    client.start(timeout=10.0)
    try:
        client.delete("/accord", recursive=True)  # the fixture's anonymous client could not
    finally:
        client.stop()
        client.close()


def test_credentials_in_the_url_protect_the_decisions(
    pg_pair: Worker, zookeeper_server: ZooKeeperServer, protected_url: str
) -> None:
    from kazoo.exceptions import NoAuthError

    result = pg_pair.with_tpc(DECISION_LOG=protected_url).run("write", item_id=1)
    assert result["outcome"] == "committed"
    client = _anonymous(zookeeper_server)
    try:
        with pytest.raises(NoAuthError):  # nobody without the password may write a decision
            client.create("/accord/tpc/forged", b"commit")
        with pytest.raises(NoAuthError):
            client.get_children("/accord/tpc")
    finally:
        client.stop()
        client.close()
