"""The ZooKeeper lock on a 3-member ensemble: leader loss, re-election, a partitioned member.

Every test runs on real servers (:class:`accord.testing.ZooKeeperEnsemble`):
members are killed with SIGKILL and paused with SIGSTOP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accord.core.errors import ConfigurationError, LockBackendError, LockLost
from accord.core.lock import Lock, base
from accord.testing import ZooKeeperEnsemble

pytest.importorskip("kazoo")


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


def _until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _anonymous(hosts: str, **options: Any) -> Any:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts, timeout=4.0, **options)
    client.start(timeout=10.0)
    return client


def test_the_ensemble_url_with_every_member_and_a_chroot_serves_locks(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    url = zookeeper_ensemble.url("/app")
    first, second = Lock("job", url), Lock("job", url)
    with first:
        assert not second.acquire(timeout=0.2)
    assert second.acquire(timeout=1)
    assert second.token > first.token
    second.release()
    client = _anonymous(zookeeper_ensemble.hosts)
    try:
        assert client.exists("/app/accord/locks")  # the chroot holds accord's nodes
    finally:
        client.stop()
        client.close()


def test_by_default_a_leader_kill_loses_the_lock_as_suspended_and_frees_it(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    url = zookeeper_ensemble.url("/app")
    reasons: list[str] = []
    holder = Lock(
        "job", url, on_lost=lambda _l, r: reasons.append(r), options={"session_timeout": 4.0}
    )
    holder.acquire()
    old = zookeeper_ensemble.kill_leader()
    assert _until(lambda: holder.lost, 10.0)
    with pytest.raises(LockLost, match="SUSPENDED"):
        holder.ensure_held()
    zookeeper_ensemble.wait_for_leader(other_than=old)
    other = Lock("job", url, options={"session_timeout": 4.0})
    assert other.acquire(timeout=10.0)  # the lost holder's node was deleted once reconnected
    assert other.token > holder.token
    other.release()


def test_with_suspended_wait_a_holder_whose_session_survives_a_leader_kill_keeps_the_lock(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    url = zookeeper_ensemble.url("/app")
    doubts: list[str] = []
    holder = Lock("job", url, ttl=10.0, options={"session_timeout": 6.0, "suspended": "wait"})
    holder.acquire()
    token = holder.token
    old = zookeeper_ensemble.kill_leader()
    # Every client of the ensemble is disconnected by an election: the lock is in doubt.
    assert _until(lambda: not holder.held, 5.0)
    try:
        holder.ensure_held()
    except LockLost as exc:
        doubts.append(str(exc))
    zookeeper_ensemble.wait_for_leader(other_than=old)
    assert _until(lambda: holder.held, 10.0), holder
    assert not holder.lost
    assert holder.token == token
    assert doubts
    assert "in doubt" in doubts[0]
    assert not Lock("job", url, options={"session_timeout": 6.0}).acquire(timeout=0.5)
    holder.ensure_held()
    holder.release()


def test_with_suspended_wait_an_expired_session_is_reported_lost(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    from kazoo.client import KazooClient

    reasons: list[str] = []
    url = zookeeper_ensemble.url("/app")
    holder = Lock(
        "job",
        url,
        on_lost=lambda _l, r: reasons.append(r),
        options={"session_timeout": 2.0, "suspended": "wait"},
    )
    holder.acquire()
    backend: Any = holder.backend
    session_id, password = backend.client.client_id
    twin = KazooClient(hosts=zookeeper_ensemble.hosts, client_id=(session_id, password))
    twin.start(timeout=10)
    twin.stop()  # closes the session: the holder's node is gone
    twin.close()
    assert _until(lambda: holder.lost, 10.0)
    assert _until(lambda: bool(reasons), 2.0)
    assert "LOST" in reasons[0] or "expired or taken" in reasons[0], reasons


def test_tokens_keep_increasing_across_elections(zookeeper_ensemble: ZooKeeperEnsemble) -> None:
    url = zookeeper_ensemble.url("/app")
    tokens = []
    for _ in range(2):
        for _ in range(3):
            lock = Lock("job", url, options={"session_timeout": 4.0})
            assert lock.acquire(timeout=15.0)
            tokens.append(lock.token)
            lock.release()
        old = zookeeper_ensemble.kill_leader()
        zookeeper_ensemble.wait_for_leader(other_than=old)
        old.start()
        zookeeper_ensemble.wait_ready()
        base.clear_backend_cache()  # a new session, maybe on the new leader
    lock = Lock("job", url, options={"session_timeout": 4.0})
    assert lock.acquire(timeout=15.0)
    tokens.append(lock.token)
    lock.release()
    assert tokens == sorted(set(tokens)), tokens


def test_a_client_on_a_paused_member_sees_suspended_and_is_not_the_holder(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    follower = zookeeper_ensemble.followers()[0]
    minority = Lock(
        "job",
        f"zookeeper://{follower.hosts}/app",
        options={"session_timeout": 2.0, "suspended": "wait"},
    )
    minority.acquire()
    majority = Lock("job", zookeeper_ensemble.url("/app"), options={"session_timeout": 2.0})
    follower.pause()
    try:
        assert _until(lambda: not minority.held, 3.0)
        with pytest.raises(LockLost, match="SUSPENDED"):
            minority.ensure_held()
        # Its session expires on the majority side, which hands the lock on.
        assert majority.acquire(timeout=10.0)
        assert majority.token > minority.token
        assert not minority.held
    finally:
        follower.resume()
    assert _until(lambda: minority.lost, 10.0)  # told LOST once it hears from the ensemble
    majority.release()


def test_credentials_in_the_lock_url_authenticate_and_close_the_nodes_to_others(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    from kazoo.exceptions import NoAuthError

    url = zookeeper_ensemble.url("/app", user="alice", password="s3cret")
    lock = Lock("job", url)
    lock.acquire()
    client = _anonymous(zookeeper_ensemble.hosts)
    try:
        with pytest.raises(NoAuthError):
            client.get_children("/app/accord/locks/job")
        with pytest.raises(NoAuthError):
            client.create("/app/accord/locks/job/lock-intruder", b"x")
    finally:
        client.stop()
        client.close()
    alice = _anonymous(zookeeper_ensemble.hosts, auth_data=[("digest", "alice:s3cret")])
    try:
        for path in ("/app", "/app/accord/locks/job"):
            acl, _ = alice.get_acls(path)
            assert [(a.id.scheme, a.id.id.split(":")[0]) for a in acl] == [("digest", "alice")]
    finally:
        alice.stop()
        alice.close()
    assert "s3cret" not in lock.backend.url
    lock.release()


def test_a_wrong_password_cannot_take_or_free_a_protected_lock(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    lock = Lock("job", zookeeper_ensemble.url("/app", user="alice", password="s3cret"))
    lock.acquire()
    intruder = Lock("job", zookeeper_ensemble.url("/app", user="alice", password="guess"))
    with pytest.raises(LockBackendError, match=r"NoAuth|not authenticated|auth"):
        intruder.acquire(timeout=2.0)
    assert lock.held
    lock.release()


def test_a_user_without_a_password_or_a_bad_suspended_value_is_refused(
    zookeeper_ensemble: ZooKeeperEnsemble,
) -> None:
    with pytest.raises(ConfigurationError, match="without a password"):
        Lock("job", f"zookeeper://alice@{zookeeper_ensemble.hosts}/app")
    with pytest.raises(ConfigurationError, match=r"suspended='keep'.*'lose'.*'wait'"):
        Lock("job", zookeeper_ensemble.url("/app"), options={"suspended": "keep"})
