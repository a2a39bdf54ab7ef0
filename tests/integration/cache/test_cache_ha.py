"""RingCache on nodes that fail over by themselves: a Sentinel group, a Redis Cluster.

For each kind of node (plain server, Sentinel group, Cluster) a master is
killed while traffic runs: no exception reaches the caller under ``miss`` or
``eject``, and every read is checked against the last write (no stale read,
before or after the promotion or restart).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
import redis
from cache_traffic import CheckedTraffic

from accord.contrib.django.cache import RingCache
from accord.core.hookspecs import hookimpl
from accord.testing.plugins import registered
from accord.testing.redis_ha import RedisClusterGroup, SentinelGroup
from accord.testing.servers import RedisServer

FAST = {
    "socket_timeout": 0.5,
    "socket_connect_timeout": 0.5,
    "retry_after": 0.5,
    "group_retry_after": 0.3,
}
KEYS = [f"key-{i}" for i in range(60)]


def _cache(location: object, policy: str) -> RingCache:
    return RingCache(location, {"OPTIONS": {"failover": policy, **FAST}})


@pytest.mark.parametrize("policy", ["miss", "eject"])
def test_killing_a_plain_node_mid_traffic_raises_nothing_and_reads_nothing_stale(
    redis_nodes: Callable[..., list[RedisServer]], policy: str
) -> None:
    durable = redis_nodes(1, extra_args=["--appendonly", "yes", "--appendfsync", "always"])
    servers = durable + redis_nodes(2)
    cache = _cache([f"{s.url}/0" for s in servers], policy)
    with CheckedTraffic(cache, KEYS) as traffic:
        servers[0].kill()
        time.sleep(1.5)
        servers[0].start()  # back from its AOF, holding values older than the traffic's
        before = traffic.mark()
        time.sleep(2.0)
    assert traffic.errors == []
    assert traffic.stale == []
    assert traffic.hits > before


@pytest.mark.parametrize("policy", ["miss", "eject"])
def test_killing_a_sentinel_master_mid_traffic_raises_nothing_and_reads_nothing_stale(
    sentinel_group: SentinelGroup, ring_urls: list[str], policy: str
) -> None:
    cache = _cache([sentinel_group.url(0), *ring_urls[:2]], policy)
    with CheckedTraffic(cache, KEYS) as traffic:
        old = sentinel_group.master_address()
        sentinel_group.kill_master()
        sentinel_group.wait_for_promotion(old)
        before = traffic.mark()
        time.sleep(2.0)
    assert traffic.errors == []
    assert traffic.stale == []
    assert traffic.hits > before
    assert cache.node_stats()["redis+sentinel://mymaster/0"]["state"] == "up"


@pytest.mark.parametrize("policy", ["miss", "eject"])
def test_killing_a_cluster_master_mid_traffic_raises_nothing_and_reads_nothing_stale(
    redis_cluster: RedisClusterGroup, policy: str
) -> None:
    cache = _cache(redis_cluster.url(), policy)
    with CheckedTraffic(cache, KEYS) as traffic:
        victim = redis_cluster.master_of(cache.make_key(KEYS[0]))
        victim.kill()
        redis_cluster.wait_for_promotion(victim)
        before = traffic.mark()
        time.sleep(2.0)
    assert traffic.errors == []
    assert traffic.stale == []
    assert traffic.hits > before


def test_a_sentinel_group_keeps_its_share_through_a_failover(
    sentinel_group: SentinelGroup, ring_urls: list[str]
) -> None:
    events: list[str] = []

    class Seen:
        @hookimpl
        def accord_node_ejected(self, node: str) -> None:
            events.append(node)

    group = "redis+sentinel://mymaster/0"
    cache = _cache([sentinel_group.url(0), *ring_urls[:2]], "eject")
    ring = cache.topology().ring
    assert ring is not None
    mine = [k for k in KEYS if ring.get_node(cache.make_key(k)) == group]
    cache.set_many(dict.fromkeys(mine, "kept"))
    written = time.monotonic()
    while time.monotonic() < written + 2.5:  # the group answers past the replication window
        cache.get(mine[0])
        time.sleep(0.05)
    old = sentinel_group.master_address()
    with registered(Seen()):
        sentinel_group.kill_master()
        sentinel_group.wait_for_promotion(old)
        deadline = time.monotonic() + 10
        found: dict[str, object] = {}
        while time.monotonic() < deadline and len(found) < len(mine):
            found = cache.get_many(mine)
            time.sleep(0.1)
    assert found == dict.fromkeys(mine, "kept")
    assert events == []  # never ejected: it stayed in the ring


def test_no_connection_to_a_demoted_master_survives_the_switch(
    sentinel_group: SentinelGroup,
) -> None:
    cache = _cache([sentinel_group.url(0)], "miss")
    cache.set_many({f"warm-{i}": i for i in range(20)})  # fills the pool with connections
    old = sentinel_group.master_address()
    paused = sentinel_group.pause_master()  # alive, holding its connections, silent
    sentinel_group.wait_for_promotion(old)
    for i in range(5):
        cache.get(f"warm-{i}")  # time out on the old master
    paused.resume()  # it wakes up still believing it is the master
    new_master = redis.Redis(port=sentinel_group.master().port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cache.set("probe", 1)
        if new_master.exists(cache.make_key("probe")):
            break
        time.sleep(0.2)
    for i in range(50):
        cache.set("after-switch", i)
        assert cache.get("after-switch") in (i, None)
    assert int(new_master.get(cache.make_key("after-switch")) or -1) == 49


def test_cluster_hash_tags_put_keys_in_one_slot_and_get_many_reads_them(
    redis_cluster: RedisClusterGroup,
) -> None:
    cache = _cache(redis_cluster.url(), "raise")
    keys = [f"{{user:7}}:field-{i}" for i in range(10)]
    cache.set_many(dict.fromkeys(keys, 1))
    client = redis.cluster.RedisCluster(*redis_cluster.startup_nodes[0])
    slots = {client.keyslot(cache.make_key(k)) for k in keys}
    assert len(slots) == 1
    assert cache.get_many(keys) == dict.fromkeys(keys, 1)


def test_cluster_resharding_under_traffic_raises_nothing_and_reads_nothing_stale(
    redis_cluster: RedisClusterGroup,
) -> None:
    cache = _cache(redis_cluster.url(), "raise")  # MOVED and ASK must never reach the caller
    source, target = redis_cluster.masters()[:2]
    ids = {}
    for node in (source, target):
        ids[node.port] = node.execute("CLUSTER", "MYID").split(b"\r\n")[1].decode()
    with CheckedTraffic(cache, KEYS) as traffic:
        run = subprocess.run(
            [
                *("redis-cli", "--cluster", "reshard", f"127.0.0.1:{source.port}"),
                *("--cluster-from", ids[source.port], "--cluster-to", ids[target.port]),
                *("--cluster-slots", "2000", "--cluster-yes"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout[-800:]
        time.sleep(0.5)
    assert traffic.errors == []
    assert traffic.stale == []
    assert traffic.reads > 0
