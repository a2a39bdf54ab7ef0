"""RingCache routes each key to its ring node, batches per node, and has a native async API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis

from accord.contrib.django.cache import RingCache
from accord.contrib.django.cache.keys import hash_tag
from accord.testing.servers import RedisServer


def _holder(urls: list[str], full_key: str) -> list[str]:
    return [url for url in urls if redis.Redis.from_url(url).exists(full_key)]


def _calls(server: RedisServer, command: str) -> int:
    info = redis.Redis.from_url(server.url).info("commandstats")
    return int(info.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_each_key_is_stored_on_its_ring_node_only(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache()
    ring = cache.topology().ring
    for i in range(30):
        cache.set(f"k{i}", i)
        full = cache.make_key(f"k{i}")
        assert _holder(ring_urls, full) == [ring.get_node(full)]


def test_keys_spread_over_all_three_nodes(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache()
    cache.set_many({f"k{i}": i for i in range(300)})
    sizes = [redis.Redis.from_url(url).dbsize() for url in ring_urls]
    assert sum(sizes) == 300
    assert min(sizes) > 50


def test_keys_with_the_same_hash_tag_share_a_node(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache()
    keys = [f"{{user:42}}:field-{i}" for i in range(40)]
    cache.set_many(dict.fromkeys(keys, 1))
    assert [url for url in ring_urls if redis.Redis.from_url(url).dbsize()] == [
        cache.topology().ring.get_node(cache.make_key(keys[0]))
    ]


@pytest.mark.parametrize(
    ("key", "hashed"),
    [
        (b"{user1000}.following", b"user1000"),
        (b"foo{}{bar}", b"foo{}{bar}"),
        (b"foo{{bar}}zap", b"{bar"),
        (b"foo{bar}{zap}", b"bar"),
        (b"no-tag", b"no-tag"),
    ],
)
def test_hash_tag_follows_redis_cluster_rules(key: bytes, hashed: bytes) -> None:
    assert hash_tag(key) == hashed


def test_hash_tags_can_be_turned_off(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache(hash_tags=False)
    cache.set_many({f"{{tag}}:{i}": i for i in range(100)})
    assert all(redis.Redis.from_url(url).dbsize() for url in ring_urls)


def test_get_many_sends_one_mget_per_node(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer]
) -> None:
    cache = make_cache()
    cache.set_many({f"k{i}": i for i in range(100)})
    before = [_calls(s, "mget") for s in ring_servers]
    assert cache.get_many([f"k{i}" for i in range(100)]) == {f"k{i}": i for i in range(100)}
    assert [_calls(s, "mget") - b for s, b in zip(ring_servers, before, strict=True)] == [1, 1, 1]


def test_set_many_with_a_timeout_sets_each_key_with_its_expiry(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache()
    assert cache.set_many({f"k{i}": i for i in range(30)}, timeout=100) == []
    for i in range(30):
        full = cache.make_key(f"k{i}")
        node = cache.topology().ring.get_node(full)
        assert 0 < redis.Redis.from_url(node).ttl(full) <= 100


def test_clear_empties_every_node(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache()
    cache.set_many({f"k{i}": i for i in range(100)})
    assert cache.clear() is True
    assert all(redis.Redis.from_url(url).dbsize() == 0 for url in ring_urls)


def test_weighted_node_gets_a_larger_share(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    location = [{"url": ring_urls[0], "weight": 4}, ring_urls[1], ring_urls[2]]
    cache = make_cache(location)
    cache.set_many({f"k{i}": i for i in range(600)})
    sizes = [redis.Redis.from_url(url).dbsize() for url in ring_urls]
    assert sizes[0] > 2 * max(sizes[1:])


def test_incr_is_atomic_and_refuses_a_missing_key(make_cache: Callable[..., RingCache]) -> None:
    cache = make_cache()
    cache.set("n", 1)
    assert cache.incr("n", 5) == 6
    with pytest.raises(ValueError, match="not found"):
        cache.incr("absent")


def test_async_api_matches_the_sync_api(make_cache: Callable[..., RingCache]) -> None:
    cache = make_cache()

    async def scenario() -> None:
        assert await cache.aadd("a", 1) is True
        assert await cache.aadd("a", 2) is False
        assert await cache.aget("a") == 1
        await cache.aset("b", {"x": 1})
        assert await cache.ahas_key("b") is True
        assert await cache.atouch("b", 100) is True
        assert await cache.aincr("a", 4) == 5
        assert await cache.adecr("a") == 4
        assert await cache.aset_many({f"m{i}": i for i in range(50)}) == []
        assert await cache.aget_many([f"m{i}" for i in range(50)]) == {
            f"m{i}": i for i in range(50)
        }
        await cache.adelete_many([f"m{i}" for i in range(50)])
        assert await cache.aget_many([f"m{i}" for i in range(50)]) == {}
        assert await cache.aget_or_set("c", 7) == 7
        assert await cache.aincr_version("c") == 2
        assert await cache.adelete("b") is True
        assert await cache.aclear() is True
        assert await cache.aget("a") is None

    asyncio.run(scenario())
    assert cache.get("c", version=2) is None


def test_async_methods_are_native_coroutines_not_thread_wrappers(
    make_cache: Callable[..., RingCache],
) -> None:
    import threading

    cache = make_cache()
    seen: list[threading.Thread] = []
    original = cache._cache.anodes.client

    def spy(name: str) -> object:
        seen.append(threading.current_thread())
        return original(name)

    cache._cache.anodes.client = spy  # type: ignore[method-assign]
    asyncio.run(cache.aset("k", 1))
    assert set(seen) == {threading.main_thread()}


def test_password_never_appears_in_errors(ring_urls: list[str]) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as info:
        RingCache(["redis://:hunter2@127.0.0.1:notaport/0"], {}).get("k")
    assert "hunter2" not in str(info.value)
    assert "***" in str(info.value)


def test_malformed_settings_raise_on_first_use_so_checks_can_report_them() -> None:
    from django.core.exceptions import ImproperlyConfigured

    cache = RingCache(["memcached://10.0.0.1:11211"], {})  # Django's own checks build it
    with pytest.raises(ImproperlyConfigured, match="not a valid Redis URL"):
        cache.get("k")


def test_incr_works_on_a_node_that_restarted_and_forgot_its_scripts(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer]
) -> None:
    cache = make_cache()

    async def bump() -> int:
        return await cache.aincr("n")

    cache.set("n", 1)
    assert cache.incr("n") == 2
    for server in ring_servers:
        server.execute("SCRIPT", "FLUSH")
    assert cache.incr("n") == 3
    assert asyncio.run(bump()) == 4
