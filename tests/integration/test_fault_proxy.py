"""The fault proxy between redis-py and a real Redis: each fault does what its table says."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from accord.testing import RedisServer
from accord.testing.faults import FaultProxy


@pytest.fixture
def proxy(redis_server: RedisServer) -> Iterator[FaultProxy]:
    with FaultProxy(redis_server.port) as proxy:
        yield proxy


def _client(port: int, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=timeout, retry=Retry(NoBackoff(), 0))


@pytest.fixture
def direct(redis_server: RedisServer) -> redis.Redis:
    return _client(redis_server.port)


def test_traffic_passes_unchanged(proxy: FaultProxy, direct: redis.Redis) -> None:
    client = _client(proxy.port)
    client.set("k", "v" * 100_000)
    assert client.get("k") == b"v" * 100_000
    assert direct.get("k") == b"v" * 100_000


def test_cut_before_the_request_never_reaches_the_server(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    client = _client(proxy.port)
    client.ping()
    proxy.cut_before(b"SET")
    with pytest.raises(redis.ConnectionError):
        client.set("k", "v")
    assert direct.get("k") is None
    assert proxy.fired == 1


def test_cut_after_the_request_executes_it_but_loses_the_reply(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    client = _client(proxy.port)
    client.ping()
    proxy.cut_after(b"SET")
    with pytest.raises(redis.ConnectionError):
        client.set("k", "v")
    assert direct.get("k") == b"v"


def test_cut_mid_reply_passes_part_of_the_reply(proxy: FaultProxy, direct: redis.Redis) -> None:
    direct.set("k", "v" * 1000)
    client = _client(proxy.port)
    proxy.cut_mid_reply(b"GET", keep=5)
    with pytest.raises(redis.ConnectionError):
        client.get("k")


def test_nth_lets_the_earlier_matches_through(proxy: FaultProxy, direct: redis.Redis) -> None:
    client = _client(proxy.port)
    proxy.cut_before(b"\r\nSET\r\n", nth=2)  # not CLIENT SETINFO, which redis-py sends first
    client.set("a", "1")
    with pytest.raises(redis.ConnectionError):
        client.set("b", "2")
    assert (direct.get("a"), direct.get("b")) == (b"1", None)
    assert proxy.armed == 0


def test_a_fault_fires_once_then_traffic_flows_again(proxy: FaultProxy) -> None:
    client = _client(proxy.port)
    proxy.cut_before(b"PING")
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert client.ping()  # redis-py reconnects; the fault has disarmed


def test_pause_holds_traffic_until_resume(proxy: FaultProxy) -> None:
    client = _client(proxy.port, timeout=0.3)
    client.ping()
    proxy.pause()
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.ping()
    assert time.monotonic() - started >= 0.25
    proxy.resume()
    assert _client(proxy.port).ping()


def test_delay_holds_each_chunk(proxy: FaultProxy) -> None:
    client = _client(proxy.port)
    client.ping()
    proxy.delay(0.2)
    started = time.monotonic()
    client.ping()
    assert time.monotonic() - started >= 0.4  # held on the way there and on the way back
    proxy.delay(0)


def test_refuse_closes_new_connections_at_once(proxy: FaultProxy) -> None:
    proxy.refuse()
    with pytest.raises(redis.ConnectionError):
        _client(proxy.port).ping()
    proxy.refuse(False)
    assert _client(proxy.port).ping()


def test_cut_all_breaks_every_open_connection(proxy: FaultProxy) -> None:
    # Raw sockets: redis-py would notice the reset while idle and quietly reconnect.
    sockets = [socket.create_connection(("127.0.0.1", proxy.port), timeout=2) for _ in range(3)]
    for sock in sockets:
        sock.sendall(b"PING\r\n")
        assert sock.recv(100) == b"+PONG\r\n"
    assert proxy.connections == 3
    assert proxy.cut_all() == 3
    for sock in sockets:
        with sock:
            assert _is_reset(sock)


def _is_reset(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"PING\r\n")
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_heal_undoes_every_fault(proxy: FaultProxy) -> None:
    proxy.pause()
    proxy.refuse()
    proxy.cut_before()
    proxy.heal()
    assert _client(proxy.port).ping()
    assert proxy.fired == 0


def test_wait_fired_reports_a_fault_fired_in_another_thread(proxy: FaultProxy) -> None:
    proxy.cut_before(b"GET")
    assert not proxy.wait_fired(timeout=0.05)
    with pytest.raises(redis.ConnectionError):
        _client(proxy.port).get("k")
    assert proxy.wait_fired(timeout=1)


def test_bad_arguments_are_refused_naming_the_value(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="nth must be at least 1, got 0"):
        proxy.cut_before(nth=0)
    with pytest.raises(ValueError, match="keep must be at least 1 byte, got 0"):
        proxy.cut_mid_reply(keep=0)
    with pytest.raises(ValueError, match="delay must be >= 0 seconds, got -1"):
        proxy.delay(-1)


def test_pause_on_holds_the_matching_request_then_lets_it_through(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    client = _client(proxy.port, timeout=5.0)
    client.set("k", "before")
    proxy.pause_on(b"SET", seconds=0.5)
    started = time.monotonic()
    client.set("k", "after")
    assert time.monotonic() - started >= 0.5
    assert direct.get("k") == b"after"
    assert proxy.fired == 1
    started = time.monotonic()
    client.set("k", "again")  # the pause is over
    assert time.monotonic() - started < 0.4


def test_a_client_that_gives_up_during_pause_on_never_delivers_the_request(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    client = _client(proxy.port, timeout=0.2)
    proxy.pause_on(b"SET", seconds=0.6)
    with pytest.raises(redis.TimeoutError):
        client.set("k", "late")
    client.close()
    time.sleep(0.8)
    assert direct.get("k") is None
