"""What django-redis users configure, on real servers: compression, serializers, key scans,
TTLs, a clear() that keeps to its KEY_PREFIX, and a stampede-safe get_or_set."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from accord.contrib.django.cache import RingCache
from accord.testing.redis_ha import RedisClusterGroup

BIG = "payload " * 1000


def _raw(cache: RingCache, key: str) -> bytes:
    full = cache.make_key(key)
    return bytes(cache.get_client(key).get(full))


@pytest.mark.parametrize("compressor", ["zlib", "lz4", "zstd"])
def test_compressed_values_are_stored_compressed_and_read_back(
    make_cache: Callable[..., RingCache], compressor: str
) -> None:
    cache = make_cache(compressor=compressor)
    cache.set("big", BIG)
    assert cache.get("big") == BIG
    raw = _raw(cache, "big")
    assert raw[:1] == b"\x00"
    assert len(raw) < len(BIG) / 10


def test_changing_compressor_and_serializer_still_reads_old_values(
    ring_urls: list[str],
) -> None:
    old = RingCache(ring_urls, {"OPTIONS": {"compressor": "zlib"}})
    old.set_many({"big": BIG, "small": {"a": 1}, "n": 3})
    new = RingCache(ring_urls, {"OPTIONS": {"compressor": "zstd", "serializer": "json"}})
    assert new.get_many(["big", "small", "n"]) == {"big": BIG, "small": {"a": 1}, "n": 3}
    assert new.incr("n") == 4


def test_json_serializer_stores_json(make_cache: Callable[..., RingCache]) -> None:
    cache = make_cache(serializer="json")
    cache.set("doc", {"a": [1, 2]})
    assert cache.get("doc") == {"a": [1, 2]}
    assert _raw(cache, "doc")[2:] == b'{"a":[1,2]}'


def test_iter_keys_and_delete_pattern_cover_every_node(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache()
    cache.set_many({f"user:{i}": i for i in range(300)} | {"other": 1})
    assert all(redis.Redis.from_url(url).dbsize() > 50 for url in ring_urls)
    assert sorted(cache.iter_keys("user:*"), key=lambda k: int(k[5:])) == [
        f"user:{i}" for i in range(300)
    ]
    assert cache.delete_pattern("user:*") == 300
    assert cache.keys("*") == ["other"]


def test_iter_keys_never_shows_stand_in_copies(
    make_cache: Callable[..., RingCache], ring_servers: list, ring_urls: list[str]
) -> None:
    cache = make_cache(failover="eject", failure_threshold=1, retry_after=30, socket_timeout=0.3)
    ring = cache.topology().ring
    assert ring is not None
    key = next(
        f"k{i}" for i in range(999) if ring.get_node(cache.make_key(f"k{i}")) == ring_urls[0]
    )
    ring_servers[0].kill()
    cache.get(key)
    cache.set(key, 1)  # a copy on a stand-in
    assert cache.get(key) == 1
    assert key not in cache.keys("*")


def test_ttl_expire_and_persist(make_cache: Callable[..., RingCache]) -> None:
    cache = make_cache()
    cache.set("k", 1, timeout=100)
    assert 0 < (cache.ttl("k") or 0) <= 100
    assert cache.persist("k") is True
    assert cache.ttl("k") is None
    assert cache.expire("k", 50) is True
    assert 0 < (cache.ttl("k") or 0) <= 50
    assert cache.ttl("absent") == 0
    assert cache.expire("absent", 5) is False


def test_clear_with_a_key_prefix_leaves_other_data_alone(ring_urls: list[str]) -> None:
    mine = RingCache(ring_urls, {"KEY_PREFIX": "mine"})
    theirs = RingCache(ring_urls, {"KEY_PREFIX": "theirs"})
    bystander = redis.Redis.from_url(ring_urls[0])
    bystander.set("not-a-cache-key", 1)
    mine.set_many({f"k{i}": i for i in range(100)})
    theirs.set_many({f"k{i}": i for i in range(100)})
    assert mine.clear() is True
    assert mine.get_many([f"k{i}" for i in range(100)]) == {}
    assert len(theirs.get_many([f"k{i}" for i in range(100)])) == 100
    assert bystander.get("not-a-cache-key") == b"1"


def test_cluster_scans_clears_and_ttls_like_a_ring(redis_cluster: RedisClusterGroup) -> None:
    cache = RingCache(redis_cluster.url(), {"KEY_PREFIX": "p"})
    cache.set_many({f"user:{i}": i for i in range(200)}, timeout=100)
    assert len(cache.keys("user:*")) == 200
    assert 0 < (cache.ttl("user:1") or 0) <= 100
    assert cache.delete_pattern("user:1*") == 111
    assert cache.clear() is True
    assert cache.keys("*") == []


def test_get_or_set_with_a_stampede_lock_computes_a_miss_once(
    make_cache: Callable[..., RingCache],
) -> None:
    cache = make_cache(stampede_lock="node", stampede_wait=10)
    calls: list[int] = []
    results: list[object] = []

    def compute() -> str:
        calls.append(1)
        time.sleep(0.3)
        return "expensive"

    def caller() -> None:
        results.append(cache.get_or_set("report", compute, timeout=60))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["expensive"] * 8
    assert len(calls) == 1


def test_get_or_set_without_a_lock_server_still_computes(
    make_cache: Callable[..., RingCache],
) -> None:
    cache = make_cache(stampede_lock="redis://127.0.0.1:1/0", stampede_wait=1)
    assert cache.get_or_set("k", lambda: "v") == "v"
    assert cache.get("k") == "v"


def test_the_async_twins_scan_and_time_keys_as_the_sync_methods_do(
    make_cache: Callable[..., RingCache],
) -> None:
    import asyncio

    cache = make_cache(stampede_lock="node")

    async def scenario() -> None:
        await cache.aset_many({f"user:{i}": i for i in range(50)}, timeout=100)
        assert sorted(await cache.aiter_keys("user:*")) == sorted(f"user:{i}" for i in range(50))
        assert 0 < (await cache.attl("user:1") or 0) <= 100
        assert await cache.apersist("user:1") is True
        assert await cache.attl("user:1") is None
        assert await cache.aexpire("user:1", 20) is True
        assert await cache.adelete_pattern("user:*") == 50
        assert await cache.aget_or_set("computed", lambda: "v") == "v"
        assert await cache.aget("computed") == "v"

    asyncio.run(scenario())
