"""RingCache against raw redis-py, Django's RedisCache and django-redis, in one run.

Run ``python benchmarks/bench_cache.py`` (``--quick`` for a smoke run with
fewer repeats; noisier, and its exit code is not a verdict). It starts its
own servers (``redis-server`` and ``redis-cli`` on PATH): plain nodes, a
Sentinel group (1 master, 1 replica, 3 Sentinels) and a 3-master Redis
Cluster. For the multi-key and scan rows each server sits behind
``latency_proxy.py``, which adds 2 ms per round trip (the cluster's nodes are
reached through theirs with redis-py's ``address_remap``). Prints medians
over repeats and ratios against the competitor measured in the same run;
exits 1 if a target of issues 4 and 15 is missed (full run only).

Targets:

- single-key get/set on 1 node: <= 1.2x raw redis-py (GET + pickle.loads,
  SET + pickle.dumps) on the same node, and <= 1.15x Django's RedisCache;
- a Sentinel-group node: <= 1.1x a plain node (the same master);
- get_many/set_many of 100 keys over 3 proxied nodes, and over a 3-master
  cluster: <= 1.5x one MGET (one pipeline) of 100 keys on one proxied node;
- iter_keys/delete_pattern of 3000 keys over 3 proxied nodes: <= 1.5x the
  same on one proxied node holding all the keys.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import django
from django.conf import settings
from latency_proxy import LatencyProxy

settings.configure(CACHES={}, USE_TZ=True)
django.setup()

import redis  # noqa: E402
from django.core.cache.backends.redis import RedisCache  # noqa: E402
from django_redis.cache import RedisCache as DjangoRedisCache  # noqa: E402

from accord.contrib.django.cache import RingCache  # noqa: E402
from accord.testing.redis_ha import RedisClusterGroup, SentinelGroup  # noqa: E402
from accord.testing.servers import RedisServer  # noqa: E402

KEYS = [f"bench:{i}" for i in range(100)]
DATA = {key: f"value-{i}" * 4 for i, key in enumerate(KEYS)}
SCAN_KEYS = {f"scan:{i}": i for i in range(3000)}
Row = tuple[str, float, str, float]
TARGETS = {
    "raw redis-py": 1.2,
    "Django RedisCache": 1.15,
    "plain node (same master)": 1.1,
    "one call on 1 node +2ms": 1.5,
    "same on 1 node +2ms": 1.5,
}


def per_call(action: Callable[[], Any], calls: int, repeats: int) -> list[float]:
    """Seconds per call, one figure per repeat."""
    figures = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            action()
        figures.append((time.perf_counter() - start) / calls)
    return figures


def compare(
    ours: Callable[[], Any], theirs: Callable[[], Any], calls: int, repeats: int
) -> tuple[float, float]:
    """Median seconds per call of each, measured in alternation to share any drift."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a += per_call(ours, calls, 1)
        b += per_call(theirs, calls, 1)
    return statistics.median(a), statistics.median(b)


def single_key_rows(url: str, calls: int, repeats: int) -> list[Row]:
    ring = RingCache([url], {})
    django_cache = RedisCache(url, {})
    raw = redis.Redis.from_url(url)
    full = ring.make_key("k")
    ring.set("k", "v")
    rows = []
    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], Any]]] = [
        (
            "get",
            partial(ring.get, "k"),
            partial(django_cache.get, "k"),
            lambda: pickle.loads(raw.get(full)),
        ),
        (
            "set",
            partial(ring.set, "k", "v"),
            partial(django_cache.set, "k", "v"),
            lambda: raw.set(full, pickle.dumps("v", pickle.HIGHEST_PROTOCOL), ex=300),
        ),
    ]
    for op, ours, theirs, floor in cases:
        ours(), theirs(), floor()  # connect all before timing
        a, b = compare(ours, floor, calls, repeats)
        rows.append((f"{op} 1 key, 1 node", a, "raw redis-py", b))
        a, b = compare(ours, theirs, calls, repeats)
        rows.append((f"{op} 1 key, 1 node", a, "Django RedisCache", b))
    return rows


def sentinel_rows(group: SentinelGroup, calls: int, repeats: int) -> list[Row]:
    host, port = group.master_address()
    via_sentinel = RingCache([group.url(0)], {})
    plain = RingCache([f"redis://{host}:{port}/0"], {})
    rows = []
    for op, ours, theirs in [
        ("get", partial(via_sentinel.get, "k"), partial(plain.get, "k")),
        ("set", partial(via_sentinel.set, "k", "v"), partial(plain.set, "k", "v")),
    ]:
        ours(), theirs()
        a, b = compare(ours, theirs, calls, repeats)
        rows.append((f"{op} 1 key, Sentinel-group node", a, "plain node (same master)", b))
    return rows


def multi_key_rows(urls: list[str], single_url: str, calls: int, repeats: int) -> list[Row]:
    ring = RingCache(urls, {})
    single = RedisCache(single_url, {})
    shard = DjangoRedisCache(urls, {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.ShardClient"}})
    ring.set_many(DATA)
    single.set_many(DATA)
    shard.set_many(DATA)
    rows = []
    cases = [
        ("get_many", ring.get_many, single.get_many, shard.get_many, KEYS),
        ("set_many", ring.set_many, single.set_many, shard.set_many, DATA),
    ]
    for op, ours, theirs, sharded, arg in cases:
        a, b = compare(partial(ours, arg), partial(theirs, arg), calls, repeats)
        c = statistics.median(per_call(partial(sharded, arg), max(1, calls // 4), repeats))
        label = f"{op} 100 keys, 3 nodes +2ms"
        rows.append((label, a, "one call on 1 node +2ms", b))
        rows.append((label, a, "django-redis ShardClient", c))

    async def async_get_many() -> list[float]:
        await ring.aget_many(KEYS)
        figures = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                await ring.aget_many(KEYS)
            figures.append((time.perf_counter() - start) / calls)
        return figures

    # Reported, not a target: the targets are for the sync calls.
    aget = statistics.median(asyncio.run(async_get_many()))
    rows.append(("aget_many 100 keys, 3 nodes +2ms", aget, "sync MGET, 1 node (info)", rows[0][3]))
    return rows


def cluster_rows(
    cluster: RedisClusterGroup, remap: dict[int, int], single_url: str, calls: int, repeats: int
) -> list[Row]:
    from redis.cluster import ClusterNode
    from redis.cluster import RedisCluster as Cluster

    cache = RingCache(cluster.url(), {})
    (name,) = cache.topology().health()
    host, port = cluster.startup_nodes[0]
    # Every node is reached through its latency proxy: redis-py's address_remap.
    client = Cluster(
        startup_nodes=[ClusterNode(host, remap[port])],
        address_remap=lambda address: (address[0], remap.get(address[1], address[1])),
        reinitialize_steps=1 << 62,
    )
    cache._cache.nodes._clients[name] = client
    single = RedisCache(single_url, {})
    cache.set_many(DATA)
    single.set_many(DATA)
    rows = []
    for op, ours, theirs, arg in [
        ("get_many", cache.get_many, single.get_many, KEYS),
        ("set_many", cache.set_many, single.set_many, DATA),
    ]:
        a, b = compare(partial(ours, arg), partial(theirs, arg), calls, repeats)
        rows.append((f"{op} 100 keys, 3-master cluster +2ms", a, "one call on 1 node +2ms", b))
    return rows


def scan_rows(urls: list[str], single_url: str, repeats: int) -> list[Row]:
    ring = RingCache(urls, {})
    single = RingCache([single_url], {})
    rows = []
    cases: list[tuple[str, Callable[[RingCache], Any]]] = [
        ("iter_keys", lambda cache: list(cache.iter_keys("scan:*"))),
        ("delete_pattern", lambda cache: cache.delete_pattern("scan:*")),
    ]
    for label, action in cases:
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(repeats):
            for cache, figures in ((ring, ours), (single, theirs)):
                cache.set_many(SCAN_KEYS)
                start = time.perf_counter()
                action(cache)
                figures.append(time.perf_counter() - start)
        rows.append(
            (
                f"{label} 3000 keys, 3 nodes +2ms",
                statistics.median(ours),
                "same on 1 node +2ms",
                statistics.median(theirs),
            )
        )
    return rows


def report(rows: list[Row]) -> bool:
    print(f"{'case':42} {'RingCache':>11} {'against':26} {'theirs':>11} {'ratio':>7}  target")
    ok = True
    for case, ours, against, theirs in rows:
        ratio = ours / theirs
        target = TARGETS.get(against)
        verdict = "" if target is None else f"<= {target} {'ok' if ratio <= target else 'MISSED'}"
        ok &= target is None or ratio <= target
        print(
            f"{case:42} {ours * 1e6:9.0f}us {against:26} {theirs * 1e6:9.0f}us "
            f"{ratio:6.2f}x  {verdict}"
        )
    return ok


def main() -> int:
    warnings.filterwarnings("ignore", module="django_redis")  # its own deprecation notices
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats")
    args = parser.parse_args()
    calls, repeats = (300, 3) if args.quick else (3000, 9)
    multi_calls = 10 if args.quick else 40
    with ExitStack() as stack:
        servers = [stack.enter_context(RedisServer()) for _ in range(4)]
        rows = single_key_rows(f"{servers[0].url}/0", calls, repeats)
        group = stack.enter_context(SentinelGroup())
        rows += sentinel_rows(group, calls, repeats)
        proxies = [stack.enter_context(LatencyProxy(s.port, 0.002)) for s in servers]
        urls = [f"redis://127.0.0.1:{p.port}/0" for p in proxies]
        rows += multi_key_rows(urls[:3], urls[3], multi_calls, repeats)
        cluster = stack.enter_context(RedisClusterGroup())
        remap = {
            port: stack.enter_context(LatencyProxy(port, 0.002)).port
            for _, port in cluster.startup_nodes
        }
        rows += cluster_rows(cluster, remap, urls[3], multi_calls, repeats)
        rows += scan_rows(urls[:3], urls[3], repeats)
    ok = report(rows)
    if args.quick:
        return 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
