"""Listing lock holders on real Redis and ZooKeeper servers: what it shows, and its bounds."""

from __future__ import annotations

import time

import pytest
import redis

from accord.core.errors import ConfigurationError
from accord.core.lock import Lock
from accord.core.lock.listing import list_holders
from accord.testing.servers import RedisServer


@pytest.fixture(params=["redis", "zookeeper"])
def lock_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        return f"{server.url}/4"
    zookeeper = request.getfixturevalue("zookeeper_server")
    return f"zookeeper://{zookeeper.hosts}/listing"


def test_each_holder_is_listed_with_owner_token_and_age(lock_url: str) -> None:
    locks = [Lock(f"job:{i}", lock_url, ttl=30) for i in range(3)]
    for lock in locks:
        assert lock.acquire()
    time.sleep(0.3)
    try:
        found = list_holders(lock_url)
        assert found.complete
        assert [h.name for h in found.holders] == ["job:0", "job:1", "job:2"]
        assert [h.token for h in found.holders] == [lock.token for lock in locks]
        for holder in found.holders:
            assert holder.age is not None
            assert 0.2 < holder.age < 30
    finally:
        for lock in locks:
            lock.release()
    assert list_holders(lock_url).holders == []


def test_prefix_keeps_only_matching_names(lock_url: str) -> None:
    a, b = Lock("celery:t:1", lock_url), Lock("report:1", lock_url)
    assert a.acquire()
    assert b.acquire()
    try:
        assert [h.name for h in list_holders(lock_url, prefix="celery:").holders] == ["celery:t:1"]
    finally:
        a.release()
        b.release()


def test_a_listing_cut_short_by_its_bound_says_so(lock_url: str) -> None:
    locks = [Lock(f"many:{i}", lock_url, ttl=30) for i in range(12)]
    for lock in locks:
        assert lock.acquire()
    try:
        found = list_holders(lock_url, limit=5)
        assert len(found.holders) == 5
        assert not found.complete
        scanned = list_holders(lock_url, max_scanned=3)
        assert scanned.scanned == 3
        assert not scanned.complete
    finally:
        for lock in locks:
            lock.release()


def test_redis_lease_left_is_the_holder_keys_time_to_live(redis_server: RedisServer) -> None:
    url = f"{redis_server.url}/4"
    lock = Lock("leased", url, ttl=20, renew=False)
    assert lock.acquire()
    try:
        (holder,) = list_holders(url).holders
        assert holder.lease_left is not None
        assert 18 < holder.lease_left <= 20
    finally:
        lock.release()


def test_a_large_keyspace_with_few_locks_is_scanned_a_bounded_number_of_times(
    redis_server: RedisServer,
) -> None:
    url = f"{redis_server.url}/4"
    client = redis.Redis.from_url(url)
    for start in range(0, 50_000, 5_000):
        client.mset({f"other:{i}": 1 for i in range(start, start + 5_000)})
    lock = Lock("rare", url, ttl=30)
    assert lock.acquire()
    try:
        client.config_resetstat()
        found = list_holders(url, max_scanned=2_000)
        calls = client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
        assert calls <= 4
        assert not found.complete
        everything = list_holders(url, max_scanned=100_000)
        assert everything.complete
        assert [h.name for h in everything.holders] == ["rare"]
    finally:
        lock.release()


def test_a_file_backend_cannot_be_listed(tmp_path: object) -> None:
    with pytest.raises(ConfigurationError, match=r"listing supports redis://"):
        list_holders(f"file://{tmp_path}")
