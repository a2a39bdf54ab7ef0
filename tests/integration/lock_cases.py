"""The backends the lock conformance suites run against, as one parametrized fixture.

Not a test module. Every case runs on a real server from
:mod:`accord.testing.pytest_plugin` (or the real OS, for ``file``), except
``memory``, which is the in-process backend itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from accord.core.lock import base, get_backend
from accord.core.lock.backends.file import FileBackend
from accord.core.lock.backends.memory import MemoryBackend
from accord.core.lock.backends.redis import holder_key
from accord.core.lock.backends.zookeeper import ZooKeeperBackend


@dataclass
class Case:
    """One backend under test: its URL and options, and a way to end a lease by hand."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    steal: Callable[[str], None] = lambda name: None
    server: Any = None


def _redis_case(server: Any) -> Case:
    import redis

    url = f"{server.url}/0"
    client = redis.Redis.from_url(url)
    return Case("redis", url, steal=lambda name: client.delete(holder_key(name)), server=server)


def _zookeeper_case(server: Any) -> Case:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=server.hosts)
    client.start(timeout=10)

    def steal(name: str) -> None:
        base_path = ZooKeeperBackend.base(name)
        for child in client.get_children(base_path):
            client.delete(f"{base_path}/{child}")

    case = Case(
        "zookeeper",
        f"zookeeper://{server.hosts}",
        options={"session_timeout": 2.0},
        steal=steal,
        server=server,
    )
    case.client = client  # type: ignore[attr-defined]
    return case


def _case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """The backend named by the fixture's param, empty; cached backends closed after."""
    kind = request.param
    if kind == "memory":
        url = f"memory://{uuid.uuid4().hex}"
        backend = get_backend(url)
        assert isinstance(backend, MemoryBackend)
        case = Case(kind, url, steal=backend.expire)
    elif kind == "file":
        url = f"file://{tmp_path / 'locks'}"
        directory = str(tmp_path / "locks")
        os.mkdir(directory)

        def steal(name: str) -> None:
            queue = FileBackend(directory).path(name) + ".queue"
            for ticket in os.listdir(queue):
                os.unlink(os.path.join(queue, ticket))

        case = Case(kind, url, steal=steal)
    elif kind == "redis":
        case = _redis_case(request.getfixturevalue("redis_server"))
    else:
        pytest.importorskip("kazoo")
        case = _zookeeper_case(request.getfixturevalue("zookeeper_server"))
    yield case
    base.clear_backend_cache()
    if kind == "zookeeper":
        case.client.stop()  # type: ignore[attr-defined]
        case.client.close()  # type: ignore[attr-defined]


@pytest.fixture(name="lock_case", params=["memory", "file", "redis", "zookeeper"])
def lock_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """Each backend in turn."""
    yield from _case(request, tmp_path)


@pytest.fixture(name="shared_case", params=["file", "redis", "zookeeper"])
def shared_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """Each backend that several processes can share."""
    yield from _case(request, tmp_path)


@pytest.fixture(name="expiring_case", params=["memory", "redis"])
def expiring_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """Each backend whose server ends a lease by itself after ttl."""
    yield from _case(request, tmp_path)


@pytest.fixture(name="owner_case", params=["memory", "redis", "zookeeper"])
def owner_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """Each backend that acts on a lease by owner (``OwnerAwareBackend``)."""
    yield from _case(request, tmp_path)


@pytest.fixture(name="shared_owner_case", params=["redis", "zookeeper"])
def shared_owner_case_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    """Each owner-aware backend that several processes (connections) can share."""
    yield from _case(request, tmp_path)
