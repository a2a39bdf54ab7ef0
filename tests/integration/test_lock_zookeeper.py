"""ZooKeeper-only behaviour of the lock: a server that dies while the lock is held."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from accord.core.lock import Lock, base

pytest.importorskip("kazoo")


@pytest.fixture
def url(zookeeper_server: Any) -> Iterator[str]:
    yield f"zookeeper://{zookeeper_server.hosts}"
    base.clear_backend_cache()


def test_a_server_that_dies_while_held_makes_the_lock_lost(zookeeper_server: Any, url: str) -> None:
    reasons: list[str] = []
    lock = Lock("job", url, ttl=0.9, session_timeout=2.0, on_lost=lambda _l, r: reasons.append(r))
    lock.acquire()
    zookeeper_server.kill()
    deadline = time.monotonic() + 0.9 + 1.0
    while not lock.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.lost
    assert reasons[0].startswith("renewal failed"), reasons


def test_a_chroot_in_the_url_keeps_locks_apart(url: str) -> None:
    with Lock("job", f"{url}/app-a"):
        assert Lock("job", f"{url}/app-b").acquire(timeout=1)


def test_an_expired_session_counts_as_lost(zookeeper_server: Any, url: str) -> None:
    from kazoo.client import KazooClient

    reasons: list[str] = []
    lock = Lock("job", url, ttl=0.9, session_timeout=2.0, on_lost=lambda _l, r: reasons.append(r))
    lock.acquire()
    backend: Any = lock.backend
    # The classic way to expire a session: attach a second client to it and close it.
    session_id, password = backend.client.client_id
    twin = KazooClient(hosts=zookeeper_server.hosts, client_id=(session_id, password))
    twin.start(timeout=10)
    twin.stop()
    twin.close()
    deadline = time.monotonic() + 0.9 / 3 + 0.5
    while not lock.lost and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lock.lost, "the expired session was not noticed within one renewal interval"
    assert reasons
    assert Lock("job", url, session_timeout=2.0).acquire(timeout=2)
