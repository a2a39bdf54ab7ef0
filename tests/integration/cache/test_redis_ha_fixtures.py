"""The Sentinel group and Redis Cluster fixtures of accord.testing.redis_ha really fail over."""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

from accord.testing.redis_ha import RedisClusterGroup, SentinelGroup


def test_sentinel_group_promotes_its_replica_when_the_master_is_killed(
    sentinel_group: SentinelGroup,
) -> None:
    old = sentinel_group.master_address()
    sentinel_group.kill_master()
    new = sentinel_group.wait_for_promotion(old)
    master = Sentinel(sentinel_group.sentinel_addresses).master_for("mymaster")
    master.set("after", 1)
    assert new != old
    assert master.get("after") == b"1"


def test_sentinel_group_url_names_every_sentinel_service_and_db(
    sentinel_group: SentinelGroup,
) -> None:
    url = sentinel_group.url(3)
    assert url.startswith("redis+sentinel://")
    assert url.endswith("/mymaster/3")
    assert url.count(",") == 2


def test_sentinel_group_reset_leaves_it_whole_and_empty(sentinel_group: SentinelGroup) -> None:
    redis.Redis(port=sentinel_group.master().port).set("k", 1)
    sentinel_group.reset()
    assert redis.Redis(port=sentinel_group.master().port).dbsize() == 0
    assert len([s for s in sentinel_group.data if sentinel_group.role(s) == "slave"]) == 1


def test_redis_cluster_moves_the_slots_of_a_killed_master_to_its_replica(
    redis_cluster: RedisClusterGroup,
) -> None:
    host, port = redis_cluster.startup_nodes[0]
    client = RedisCluster(host=host, port=port)
    client.set("{k}", 1)
    victim = redis_cluster.master_of("{k}")
    victim.kill()
    redis_cluster.wait_for_promotion(victim)
    assert redis_cluster.master_of("{k}") is not victim
    assert len(redis_cluster.masters()) == 3
