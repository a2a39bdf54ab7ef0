"""The ZooKeeper ensemble of accord.testing: three real servers, and controls that really act."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from accord.testing import ZooKeeperEnsemble

pytest.importorskip("kazoo")


@pytest.fixture
def client(zookeeper_ensemble: ZooKeeperEnsemble) -> Iterator[object]:
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=zookeeper_ensemble.hosts, timeout=4.0)
    zk.start(timeout=10.0)
    yield zk
    zk.stop()
    zk.close()


def test_the_ensemble_has_one_leader_and_two_followers(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    modes = sorted(str(mode) for mode in zookeeper_ensemble.modes().values())
    assert modes == ["follower", "follower", "leader"]
    assert len({m.port for m in zookeeper_ensemble.members}) == 3
    assert len({m.workdir for m in zookeeper_ensemble.members}) == 3


def test_a_write_through_one_member_is_read_through_every_other(
    zookeeper_ensemble: ZooKeeperEnsemble, client: object
) -> None:
    from kazoo.client import KazooClient

    client.create("/written", b"once")  # type: ignore[attr-defined]
    for member in zookeeper_ensemble.members:
        other = KazooClient(hosts=member.hosts, timeout=4.0)
        other.start(timeout=10.0)
        try:
            other.sync("/written")
            assert other.get("/written")[0] == b"once"
        finally:
            other.stop()
            other.close()


def test_killing_the_leader_elects_another_that_keeps_the_data(
    zookeeper_ensemble: ZooKeeperEnsemble, client: object
) -> None:
    client.create("/before", b"kept")  # type: ignore[attr-defined]
    old = zookeeper_ensemble.kill_leader()
    assert not old.running
    new = zookeeper_ensemble.wait_for_leader(other_than=old, timeout=20.0)
    assert new is not old
    client.sync("/before")  # type: ignore[attr-defined]
    assert client.get("/before")[0] == b"kept"  # type: ignore[attr-defined]


def test_killing_a_follower_keeps_the_leader_and_the_quorum(
    zookeeper_ensemble: ZooKeeperEnsemble, client: object
) -> None:
    leader = zookeeper_ensemble.wait_for_leader()
    follower = zookeeper_ensemble.kill_follower()
    assert follower is not leader
    assert not follower.running
    assert zookeeper_ensemble.leader() is leader
    client.create("/with-two", b"x")  # type: ignore[attr-defined]


def test_a_paused_member_stops_serving_and_serves_again_once_resumed(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    follower = zookeeper_ensemble.followers()[0]
    follower.pause()
    try:
        assert follower.running
        assert follower.mode() is None
    finally:
        follower.resume()
    zookeeper_ensemble.wait_ready(timeout=20.0)
    assert follower.mode() == "follower"


def test_a_restarted_member_rejoins_as_a_follower(zookeeper_ensemble: ZooKeeperEnsemble) -> None:
    member = zookeeper_ensemble.kill_leader()
    zookeeper_ensemble.wait_for_leader(other_than=member)
    member.start()
    zookeeper_ensemble.wait_ready(timeout=20.0)
    assert member.mode() == "follower"


def test_two_members_down_leave_no_quorum(zookeeper_ensemble: ZooKeeperEnsemble) -> None:
    first = zookeeper_ensemble.kill_follower()
    zookeeper_ensemble.kill_follower()
    deadline = time.monotonic() + 10
    while zookeeper_ensemble.leader() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert zookeeper_ensemble.leader() is None  # the last one stops serving
    first.start()
    assert zookeeper_ensemble.wait_for_leader(timeout=20.0) is not None


def test_reset_brings_back_killed_and_paused_members(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    zookeeper_ensemble.kill_leader()
    zookeeper_ensemble.wait_for_leader(timeout=20.0)
    zookeeper_ensemble.followers()[0].pause()
    zookeeper_ensemble.reset()
    assert sorted(str(m) for m in zookeeper_ensemble.modes().values()) == [
        "follower",
        "follower",
        "leader",
    ]


def test_the_url_names_every_member(zookeeper_ensemble: ZooKeeperEnsemble) -> None:
    url = zookeeper_ensemble.url("/app", user="u", password="p")
    assert url == f"zookeeper://u:p@{zookeeper_ensemble.hosts}/app"
    assert url.count(",") == 2


def test_an_even_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size=4"):
        ZooKeeperEnsemble(4)
