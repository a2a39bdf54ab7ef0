"""Redis fencing tokens never repeat: kill -9 with and without data, failover (real Redis).

Hole 8 of issue 11: with an ``INCR`` counter alone, a server that lost its
last writes (an RDB snapshot behind, no persistence, a replica that missed
them) issued a token again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from accord.core.lock import Lock, base
from accord.testing import RedisServer
from accord.testing.faults import FaultProxy


@pytest.fixture(autouse=True)
def fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


def take(url: str, times: int = 1) -> list[int]:
    tokens = []
    for _ in range(times):
        with Lock("job", url) as lock:
            tokens.append(lock.token)
    return tokens


def restarted(server: RedisServer, *, keep_data: bool) -> None:
    base.clear_backend_cache()  # drop the connections to the dead server
    server.kill()
    if not keep_data:
        server.wipe_data()
    server.start()


@pytest.mark.parametrize("persistence", ["none", "rdb", "aof"])
def test_tokens_keep_rising_after_the_server_is_killed_and_restarted(
    redis_nodes: Callable[..., list[RedisServer]], persistence: str
) -> None:
    (server,) = redis_nodes(1, persistence=persistence)
    url = f"{server.url}/0"
    tokens = take(url)
    server.execute("SAVE")  # an RDB snapshot now; the next writes are only in memory (rdb)
    tokens += take(url, 3)
    restarted(server, keep_data=True)
    assert take(url)[0] > max(tokens)


def test_tokens_keep_rising_after_a_restart_that_lost_every_file(
    redis_nodes: Callable[..., list[RedisServer]],
) -> None:
    (server,) = redis_nodes(1, persistence="aof")
    url = f"{server.url}/0"
    tokens = take(url, 3)
    restarted(server, keep_data=False)
    assert take(url)[0] > max(tokens)


def test_tokens_keep_rising_after_failover_to_a_replica_that_missed_the_last_writes(
    redis_nodes: Callable[..., list[RedisServer]],
) -> None:
    master, replica = redis_nodes(2)
    with FaultProxy(master.port) as link:  # the replication link, to stall on cue
        replica.execute("REPLICAOF", link.host, str(link.port))
        tokens = take(f"{master.url}/0")
        deadline = time.monotonic() + 10
        while b"master_link_status:up" not in replica.execute("INFO", "replication"):
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.05)
        assert master.execute("WAIT", "1", "5000") == b":1\r\n"
        link.pause()  # the replica misses what follows: asynchronous replication
        tokens += take(f"{master.url}/0", 3)
        master.kill()
    replica.execute("REPLICAOF", "NO", "ONE")  # promoted, as Sentinel would
    assert take(f"{replica.url}/0")[0] > max(tokens)
