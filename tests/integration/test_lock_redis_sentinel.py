"""The Redis lock on a Sentinel group: replica acknowledgement, promotion, tokens.

Real servers (:class:`accord.testing.SentinelGroup`: a master, a replica, three
Sentinels); the master is killed with SIGKILL, the replica paused with SIGSTOP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from accord.core.errors import LockBackendError
from accord.core.lock import Lock, base
from accord.core.lock.backends.redis import holder_key
from accord.testing import RedisServer, SentinelGroup

pytest.importorskip("redis")


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


def _replica(group: SentinelGroup) -> RedisServer:
    master = group.master()
    return next(server for server in group.data if server is not master)


def _promote(group: SentinelGroup) -> None:
    old = group.master_address()
    group.kill_master()
    group.wait_for_promotion(old)


def test_a_sentinel_url_serves_locks_on_the_master(sentinel_group: SentinelGroup) -> None:
    first, second = Lock("job", sentinel_group.url(0)), Lock("job", sentinel_group.url(0))
    with first:
        assert not second.acquire(timeout=0.1)
        assert sentinel_group.master().execute("EXISTS", holder_key("job")).startswith(b":1")
    assert second.acquire(timeout=1)
    assert second.token > first.token
    second.release()


def test_with_min_replicas_an_acquire_is_on_the_replica_when_granted(
    sentinel_group: SentinelGroup,
) -> None:
    lock = Lock("job", sentinel_group.url(0), options={"min_replicas": 1})
    lock.acquire()
    owner = _replica(sentinel_group).execute("GET", holder_key("job"))
    assert not owner.startswith(b"$-1"), owner  # not nil: the replica has the holder
    lock.release()


def test_with_min_replicas_no_acknowledgement_means_no_lock(
    sentinel_group: SentinelGroup,
) -> None:
    lock = Lock("job", sentinel_group.url(0), options={"min_replicas": 1, "replica_timeout": 0.3})
    replica = _replica(sentinel_group)
    replica.pause()
    try:
        with pytest.raises(LockBackendError, match=r"acknowledged by 0 replica.*min_replicas=1"):
            lock.acquire()
        assert not lock.held
        assert not Lock("job", sentinel_group.url(0)).backend.is_locked("job")  # undone
    finally:
        replica.resume()


def test_without_min_replicas_an_acquire_does_not_wait_for_a_silent_replica(
    sentinel_group: SentinelGroup,
) -> None:
    replica = _replica(sentinel_group)
    replica.pause()
    try:
        lock = Lock("job", sentinel_group.url(0))
        started = time.monotonic()
        assert lock.acquire(timeout=1)
        assert time.monotonic() - started < 0.5
        lock.release()
    finally:
        replica.resume()


def test_with_min_replicas_a_renewal_no_replica_acknowledges_loses_the_lock(
    sentinel_group: SentinelGroup,
) -> None:
    reasons: list[str] = []
    lock = Lock(
        "job",
        sentinel_group.url(0),
        ttl=0.9,
        on_lost=lambda _l, r: reasons.append(r),
        options={"min_replicas": 1, "replica_timeout": 0.2},
    )
    lock.acquire()
    replica = _replica(sentinel_group)
    replica.pause()
    try:
        deadline = time.monotonic() + 3
        while not lock.lost and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lock.lost
    finally:
        replica.resume()
    deadline = time.monotonic() + 2
    while not reasons and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reasons[0].startswith("renewal failed"), reasons  # not confirmed by a replica in time


def test_with_min_replicas_a_lock_held_across_a_promotion_stays_held(
    sentinel_group: SentinelGroup,
) -> None:
    url = sentinel_group.url(0)
    holder = Lock(
        "job",
        url,
        ttl=30,
        options={"min_replicas": 1, "socket_timeout": 1.0, "replica_timeout": 0.5},
    )
    holder.acquire()
    _promote(sentinel_group)  # the old master is dead; the replica, now master, has the lock
    other = Lock("job", url, options={"socket_timeout": 1.0})
    assert not other.acquire(timeout=0.5)
    # With no replica left, renewals are not acknowledged (retried while the lease runs);
    # once the old master is back as a replica, they are again.
    sentinel_group.restart_data()
    sentinel_group.wait_ready()
    # The first WAIT after the link came up can take longer than replica_timeout
    # on a loaded machine: what must hold is that a renewal is acknowledged again.
    deadline = time.monotonic() + 15
    while True:
        try:
            assert holder.backend.renew("job", holder._owner, 30)  # type: ignore[attr-defined,arg-type]
            break
        except LockBackendError:  # not acknowledged within replica_timeout: yet
            assert time.monotonic() < deadline, "no renewal acknowledged 15 s after the restart"
            time.sleep(0.2)
    assert holder.held


def test_tokens_keep_increasing_across_a_promotion(sentinel_group: SentinelGroup) -> None:
    url = sentinel_group.url(0)
    before = []
    for _ in range(3):
        with Lock("job", url) as lock:
            before.append(lock.token)
    _promote(sentinel_group)
    base.clear_backend_cache()
    after = Lock("job", url, options={"socket_timeout": 1.0})
    assert after.acquire(timeout=5)
    assert after.token > max(before)
    after.release()
