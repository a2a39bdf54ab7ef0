"""Failover policies against Redis nodes that are really killed, paused and restarted.

The node that fails keeps its data across a crash (append-only file,
fsync always), so it comes back holding the values it had: the case where a
client that readmits it blindly serves stale values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from accord.contrib.django.cache import RingCache
from accord.core.hookspecs import hookimpl
from accord.core.plugins import get_plugin_manager
from accord.testing.servers import RedisServer

KEYS = [f"key-{i}" for i in range(300)]
FAST = {"retry_after": 0.3, "socket_timeout": 0.3, "socket_connect_timeout": 0.3}


class Recorder:
    """An observer plugin that keeps the node events it sees."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def accord_node_ejected(self, node: str, failures: int) -> None:
        self.events.append(("ejected", node))

    @hookimpl
    def accord_node_restored(self, node: str, downtime: float) -> None:
        self.events.append(("restored", node))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    plugin = Recorder()
    manager = get_plugin_manager()
    manager.register(plugin, name="test-cache-recorder")
    yield plugin
    manager.unregister(plugin)


@pytest.fixture
def durable_ring(
    redis_nodes: Callable[..., list[RedisServer]],
) -> tuple[list[RedisServer], list[str]]:
    """Three nodes; the first keeps its data across SIGKILL (AOF, fsync always)."""
    durable = redis_nodes(1, extra_args=["--appendonly", "yes", "--appendfsync", "always"])
    servers = durable + redis_nodes(2)
    return servers, [f"{s.url}/0" for s in servers]


class Traffic:
    """Background reads and writes that count every exception reaching the caller."""

    def __init__(self, cache: RingCache) -> None:
        self.cache = cache
        self.errors: list[BaseException] = []
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            key = f"noise-{i % 50}"
            try:
                self.cache.set(key, i)
                self.cache.get(key)
                self.cache.get_many([f"noise-{j}" for j in range(10)])
            except Exception as exc:
                self.errors.append(exc)
            self.calls += 1
            i += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _keys_on(cache: RingCache, node: str) -> list[str]:
    ring = cache.topology().ring
    return [k for k in KEYS if ring.get_node(cache.make_key(k)) == node]


def _wait_readmitted(cache: RingCache, node: str, keys: list[str]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cache.get_many(keys)
        if cache.node_stats()[node]["state"] == "up":
            return
        time.sleep(0.05)
    raise AssertionError(f"{node} was not readmitted: {cache.node_stats()[node]}")


@pytest.mark.parametrize("policy", ["eject", "miss"])
def test_killed_node_raises_nothing_and_serves_nothing_stale_after_restart(
    policy: str, durable_ring: tuple[list[RedisServer], list[str]], recorder: Recorder
) -> None:
    servers, urls = durable_ring
    cache = RingCache(urls, {"OPTIONS": {"failover": policy, **FAST}})
    cache.set_many(dict.fromkeys(KEYS, "old"))
    victim = _keys_on(cache, urls[0])
    assert victim
    with Traffic(cache) as traffic:
        servers[0].kill()
        # it comes back from its AOF holding "old" (read from the file: once it
        # is up, the cache may repair it before the test could look)
        aof = b"".join(p.read_bytes() for p in (servers[0].workdir / "appendonlydir").iterdir())
        assert cache.make_key(victim[-1]).encode() in aof
        for key in KEYS:
            cache.set(key, "new")
        cache.delete_many(KEYS[:30])
        servers[0].start()
        _wait_readmitted(cache, urls[0], KEYS)
        values = cache.get_many(KEYS)
        singles = {key: cache.get(key, "missing") for key in victim}
    assert traffic.errors == []
    assert traffic.calls > 0
    assert "old" not in values.values()
    assert "old" not in singles.values()
    assert not set(values) & set(KEYS[:30])
    assert ("ejected", urls[0]) in recorder.events
    assert ("restored", urls[0]) in recorder.events


def test_paused_node_serves_nothing_stale_when_it_answers_again(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    cache = make_cache(failover="eject", **FAST)
    cache.set_many(dict.fromkeys(KEYS, "old"))
    victim = _keys_on(cache, ring_urls[1])
    ring_servers[1].pause()
    try:
        for key in victim:
            cache.set(key, "new")  # the first ones time out, the rest go to stand-ins
    finally:
        ring_servers[1].resume()
    _wait_readmitted(cache, ring_urls[1], victim)
    assert "old" not in {cache.get(key) for key in victim}


def test_stand_in_copies_do_not_resurface_when_the_node_fails_again(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    cache = make_cache(failover="eject", failure_threshold=1, **FAST)
    key = _keys_on(cache, ring_urls[2])[0]
    ring_servers[2].kill()
    cache.set(key, "episode-1")  # fails: the node is ejected
    cache.set(key, "episode-1")  # written to a stand-in
    assert cache.get(key) == "episode-1"
    ring_servers[2].start()
    _wait_readmitted(cache, ring_urls[2], [key])
    cache.set(key, "current")
    ring_servers[2].kill()
    cache.get(key)  # fails: ejected again
    assert cache.get(key) is None


def test_raise_policy_lets_the_connection_error_through(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    cache = make_cache(**FAST)
    key = _keys_on(cache, ring_urls[0])[0]
    ring_servers[0].kill()
    with pytest.raises(redis.ConnectionError):
        cache.get(key)


def test_miss_policy_reads_a_failed_node_as_a_miss_and_counts_it(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    cache = make_cache(failover="miss", **FAST)
    key = _keys_on(cache, ring_urls[0])[0]
    cache.set(key, "value")
    ring_servers[0].kill()
    assert cache.get(key, "default") == "default"
    assert cache.set_many({key: 1}) == [key]
    stats = cache.node_stats()[ring_urls[0]]
    assert stats["missed_reads"] == 1
    assert stats["dropped_writes"] == 1


def test_eject_sends_keys_of_an_ejected_node_to_the_next_node(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    cache = make_cache(failover="eject", failure_threshold=1, **FAST)
    key = _keys_on(cache, ring_urls[0])[0]
    ring_servers[0].kill()
    cache.get(key)
    cache.set(key, "kept")
    assert cache.get(key) == "kept"
    stand_in = cache.topology().ring.get_nodes(cache.make_key(key), 2)[1]
    copies = list(redis.Redis.from_url(stand_in).scan_iter(match=f"{cache.make_key(key)}*"))
    assert len(copies) == 1


def test_async_api_raises_nothing_under_eject_with_a_killed_node(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer]
) -> None:
    import asyncio

    cache = make_cache(failover="eject", **FAST)

    async def traffic() -> dict[str, Any]:
        await cache.aset_many(dict.fromkeys(KEYS, 1))
        ring_servers[0].kill()
        for key in KEYS[:50]:
            await cache.aset(key, 2)
            await cache.aget(key)
        return await cache.aget_many(KEYS)

    found = asyncio.run(traffic())
    assert set(found.values()) <= {1, 2}


SHARED = """
import threading, django
django.setup()
from django.core.cache import caches
seen = []
def grab():
    seen.append(caches["default"]._cache)
threads = [threading.Thread(target=grab) for _ in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
assert len({id(c) for c in seen}) == 1, seen
assert caches["default"] is not seen  # a backend per thread, one client for all
"""


def test_per_thread_backends_of_one_alias_share_one_failover_state(ring_urls: list[str]) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "ACCORD_RING_LOCATION": ";".join(ring_urls),
        "PYTHONPATH": str(Path(__file__).parent),
        "DJANGO_SETTINGS_MODULE": "ring_settings",
    }
    run = subprocess.run([sys.executable, "-c", SHARED], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr


def test_write_longer_than_fallback_timeout_to_a_stand_in_is_stored(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    cache = make_cache(failover="eject", failure_threshold=1, **FAST)
    key = _keys_on(cache, ring_urls[0])[0]
    ring_servers[0].kill()
    cache.get(key)  # the failure that ejects the node
    assert cache.get_or_set(key, "rebuilt", timeout=3600) == "rebuilt"
    assert cache.get(key) == "rebuilt"
