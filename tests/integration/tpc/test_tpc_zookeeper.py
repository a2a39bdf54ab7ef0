"""The decision log in ZooKeeper: commit, and recovery after a crash (two PostgreSQL databases)."""

from __future__ import annotations

import time
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


def test_the_purge_reads_only_whole_hours_older_than_the_retention(
    zookeeper_server: ZooKeeperServer,
) -> None:
    from accord.core.tpc.xid import make_xid
    from accord.core.tpc.zookeeper import ZooKeeperDecisionLog

    log = ZooKeeperDecisionLog(f"zookeeper://{zookeeper_server.hosts}/accord/tpc")
    try:
        old = [make_xid("web", now=time.time() - 3 * 3600) for _ in range(20)]
        new = [make_xid("web") for _ in range(50)]
        for xid in old + new:
            log.log_commit(xid, ["default", "ledger"], None)
        client = log._zk()
        reads: list[str] = []
        real_get_async = client.get_async

        def counted(path: str, *args: Any, **kwargs: Any) -> Any:
            if "/decisions/" in path:  # a read of one decision znode
                reads.append(path)
            return real_get_async(path, *args, **kwargs)

        client.get_async = counted
        purged = log.purge(time.time() + 1, 0.0, keep=[old[0]], scanned=["default", "ledger"])
        assert purged == 19  # every old one but the kept one
        assert len(reads) == 20  # the old hour only: no recent decision was read
        reads.clear()
        assert log.purge(time.time() + 1, 0.0, keep=[], scanned=["default"]) == 0
        assert reads == [log._path(old[0])]  # what is left of the old hour, nothing else
        assert log.lookup(old[0]) is not None
        assert log.lookup(old[1]) is None
        assert all(log.lookup(xid) is not None for xid in new)
    finally:
        log.close()


def test_a_commit_record_naming_an_unscanned_alias_is_not_purged(
    zookeeper_server: ZooKeeperServer,
) -> None:
    from accord.core.tpc.xid import make_xid
    from accord.core.tpc.zookeeper import ZooKeeperDecisionLog

    log = ZooKeeperDecisionLog(f"zookeeper://{zookeeper_server.hosts}/accord/tpc")
    try:
        xid = make_xid("web", now=time.time() - 3 * 3600)
        log.log_commit(xid, ["default", "maria"], None)
        assert log.purge(time.time() + 1, 0.0, keep=[], scanned=["default"]) == 0
        assert log.lookup(xid) is not None
        assert log.purge(time.time() + 1, 0.0, keep=[], scanned=["default", "maria"]) == 1
    finally:
        log.close()


def test_no_commit_can_be_recorded_for_a_transaction_older_than_the_purge_horizon(
    zookeeper_server: ZooKeeperServer,
) -> None:
    from accord.core.errors import TransactionFenced
    from accord.core.tpc.xid import make_xid
    from accord.core.tpc.zookeeper import ZooKeeperDecisionLog

    url = f"zookeeper://{zookeeper_server.hosts}/accord/tpc"
    coordinator, recovery = ZooKeeperDecisionLog(url), ZooKeeperDecisionLog(url)
    try:
        paused = make_xid("web")  # its coordinator reads the horizon, then stalls
        coordinator.log_commit(make_xid("web"), ["default"], None)
        recovery.purge(time.time() - 3600, time.time() + 1, keep=[], scanned=[])
        with pytest.raises(TransactionFenced, match="purge horizon"):
            coordinator.log_commit(paused, ["default"], None)
        assert recovery.lookup(paused) is None
        coordinator.log_commit(make_xid("web", now=time.time() + 2), ["default"], None)
    finally:
        coordinator.close()
        recovery.close()
