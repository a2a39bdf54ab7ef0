"""Three real Redis nodes for the RingCache tests, started once per session.

Function-scoped fixtures hand them to each test running (restarted on the
same port if a test killed one) and empty, as ``redis_server`` does for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accord.contrib.django.cache import RingCache
from accord.testing.pytest_plugin import services
from accord.testing.servers import RedisServer


@pytest.fixture(scope="session")
def ring_session_servers() -> Iterator[list[RedisServer]]:
    """Three Redis servers for the whole session; prefer :func:`ring_servers`."""
    servers = [RedisServer() for _ in range(3)]
    with services():
        for server in servers:
            server.start()
    yield servers
    for server in servers:
        server.close()


@pytest.fixture
def ring_servers(ring_session_servers: list[RedisServer]) -> list[RedisServer]:
    """The three servers, running and empty."""
    for server in ring_session_servers:
        server.resume()
        with services():
            server.start()
        server.flushall()
    return ring_session_servers


@pytest.fixture
def ring_urls(ring_servers: list[RedisServer]) -> list[str]:
    """``redis://127.0.0.1:<port>/0`` of each of the three servers."""
    return [f"{server.url}/0" for server in ring_servers]


@pytest.fixture
def make_cache(ring_urls: list[str]) -> Callable[..., RingCache]:
    """``make_cache(**OPTIONS)``: a RingCache over the three servers (``LOCATION=`` to change)."""

    def make(location: Any = None, **options: Any) -> RingCache:
        return RingCache(ring_urls if location is None else location, {"OPTIONS": options})

    return make
