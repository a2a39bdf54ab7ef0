"""The metrics plugins count a real ring cache's hits, misses, errors and node changes exactly.

Three real Redis nodes; one is killed, ejected, restarted and readmitted. The
same events are read from an OpenTelemetry SDK (in-memory reader) and from a
Prometheus registry scraped over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from accord.contrib.django.cache import RingCache
from accord.testing.metrics import labels, metrics_plugins
from accord.testing.servers import RedisServer

FAST = {"retry_after": 0.3, "socket_timeout": 0.5, "socket_connect_timeout": 0.5}
KEYS = [f"key-{i}" for i in range(100)]


def _keys_on(cache: RingCache, node: str) -> list[str]:
    ring = cache.topology().ring
    return [k for k in KEYS if ring.get_node(cache.make_key(k)) == node]


def test_hits_misses_errors_and_node_changes_are_counted_per_node(
    make_cache: Callable[..., RingCache], ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    cache = make_cache(failover="eject", failure_threshold=2, **FAST)
    victim, other = ring_urls[0], ring_urls[1]
    a, b = _keys_on(cache, victim)[:2]
    c = _keys_on(cache, other)[0]
    alias = cache._cache.source.removeprefix("cache:")
    with metrics_plugins() as (otel, prom):
        cache.set(a, 1)
        cache.set(c, 1)
        assert cache.get(a) == 1  # hit
        assert cache.get(b) is None  # miss
        assert cache.get(c) == 1  # hit on the other node
        ring_servers[0].kill()
        assert cache.get(a, "gone") == "gone"  # failure 1: a miss
        assert cache.get(b, "gone") == "gone"  # failure 2: a miss, and the node is ejected
        assert cache.node_stats()[victim]["state"] == "out"
        ring_servers[0].start()
        time.sleep(0.35)
        probes = 0
        while cache.node_stats()[victim]["state"] != "up":  # readmitted (and flushed)
            assert cache.get(a, "gone") == "gone"
            probes += 1
            assert probes < 200, cache.node_stats()[victim]
            time.sleep(0.02)
        otel_values, scraped = otel.values(), prom.scrape()

    node = {"accord.cache.name": alias, "accord.cache.node": victim}
    node2 = {"accord.cache.name": alias, "accord.cache.node": other}
    k = lambda name, **attrs: (name, tuple(sorted(attrs.items())))  # noqa: E731
    assert otel_values[k("accord.cache.hits", **node)] == 1
    assert otel_values[k("accord.cache.misses", **node)] == 1 + 2 + probes
    assert otel_values[k("accord.cache.hits", **node2)] == 1
    assert k("accord.cache.misses", **node2) not in otel_values
    errors = {key: v for key, v in otel_values.items() if key[0] == "accord.cache.errors"}
    assert sum(errors.values()) == 2
    assert all(dict(attrs)["accord.cache.node"] == victim for _, attrs in errors)
    for state in ("ejected", "restored"):
        attrs = {**node, "accord.cache.node.state": state}
        assert otel_values[k("accord.cache.node.state_changes", **attrs)] == 1
    get = {**node, "accord.cache.operation": "get"}
    assert otel_values[k("accord.cache.operation.duration.count", **get)] == 1 + 1 + 2 + probes
    set_ = {**node, "accord.cache.operation": "set"}
    assert otel_values[k("accord.cache.operation.duration.count", **set_)] == 1

    assert scraped[labels("accord_cache_hits_total", cache=alias, node=victim)] == 1
    assert scraped[labels("accord_cache_misses_total", cache=alias, node=victim)] == 3 + probes
    assert scraped[labels("accord_cache_hits_total", cache=alias, node=other)] == 1
    prom_errors = [v for (name, _), v in scraped.items() if name == "accord_cache_errors_total"]
    assert sum(prom_errors) == 2
    for state in ("ejected", "restored"):
        changes = labels(
            "accord_cache_node_state_changes_total", cache=alias, node=victim, state=state
        )
        assert scraped[changes] == 1
    count = labels(
        "accord_cache_operation_seconds_count", cache=alias, operation="get", node=victim
    )
    assert scraped[count] == 4 + probes


def test_get_many_counts_hits_and_misses_of_each_node(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    cache = make_cache()
    alias = cache._cache.source.removeprefix("cache:")
    stored = dict.fromkeys(KEYS[::2], 1)
    cache.set_many(stored)
    with metrics_plugins() as (otel, prom):
        assert cache.get_many(KEYS) == stored
        scraped = prom.scrape()
        values = otel.values()
    for url in ring_urls:
        mine = _keys_on(cache, url)
        hits = sum(1 for key in mine if key in stored)
        attrs = {"accord.cache.name": alias, "accord.cache.node": url}
        assert values[("accord.cache.hits", tuple(sorted(attrs.items())))] == hits
        assert values[("accord.cache.misses", tuple(sorted(attrs.items())))] == len(mine) - hits
        assert scraped[labels("accord_cache_hits_total", cache=alias, node=url)] == hits
        assert scraped[labels("accord_cache_misses_total", cache=alias, node=url)] == (
            len(mine) - hits
        )
        count = labels(
            "accord_cache_operation_seconds_count", cache=alias, operation="get_many", node=url
        )
        assert scraped[count] == 1


def test_without_a_plugin_the_cache_tells_no_one(
    make_cache: Callable[..., RingCache],
) -> None:
    from accord.core.plugins import get_plugin_manager, observed

    cache = make_cache()
    assert not observed("accord_cache_operation")
    with metrics_plugins():
        assert observed("accord_cache_operation")
    assert not observed("accord_cache_operation")
    assert "accord.contrib.prometheus" not in dict(get_plugin_manager().list_name_plugin())
    cache.set("k", 1)


def test_reads_from_many_threads_are_counted_exactly(
    make_cache: Callable[..., RingCache], ring_urls: list[str]
) -> None:
    import threading

    cache = make_cache()
    alias = cache._cache.source.removeprefix("cache:")
    stored = KEYS[::2]
    cache.set_many(dict.fromkeys(stored, 1))
    threads, rounds = 8, 25
    start = threading.Barrier(threads)

    def read() -> None:
        start.wait()
        for _ in range(rounds):
            for key in KEYS:
                cache.get(key)

    with metrics_plugins() as (otel, prom):
        workers = [threading.Thread(target=read) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        scraped, values = prom.scrape(), otel.values()
    for url in ring_urls:
        mine = _keys_on(cache, url)
        hits = threads * rounds * sum(1 for key in mine if key in stored)
        misses = threads * rounds * len(mine) - hits
        attrs = {"accord.cache.name": alias, "accord.cache.node": url}
        assert values[("accord.cache.hits", tuple(sorted(attrs.items())))] == hits
        assert values[("accord.cache.misses", tuple(sorted(attrs.items())))] == misses
        assert scraped[labels("accord_cache_hits_total", cache=alias, node=url)] == hits
        assert scraped[labels("accord_cache_misses_total", cache=alias, node=url)] == misses
        count = labels(
            "accord_cache_operation_seconds_count", cache=alias, operation="get", node=url
        )
        assert scraped[count] == hits + misses
        inf = labels(
            "accord_cache_operation_seconds_bucket",
            cache=alias,
            operation="get",
            node=url,
            le="+Inf",
        )
        assert scraped[inf] == hits + misses
