"""pytest fixtures that run accord's tests (and yours) against real servers.

Enable it with ``pytest_plugins = ["accord.testing.pytest_plugin"]`` in a
top-level ``conftest.py``, or ``pytest -p accord.testing.pytest_plugin``.

Failure behaviour first: when a server is missing or will not start, a test
that needs it is skipped with a reason naming the service and how to get it;
with ``ACCORD_REQUIRE_SERVICES=1`` (as CI sets it) the test fails instead.

Expensive servers are started once per session (``*_session_*`` fixtures);
the function-scoped fixtures hand the same server to each test in a known
state: running (restarted on the same port if a test stopped, killed or
paused it) and empty.

============================  ========  =====================================================
fixture                       scope     value
============================  ========  =====================================================
``redis_server``              function  :class:`RedisServer`, running, after ``FLUSHALL``
``redis_nodes``               function  ``redis_nodes(count=1, **kwargs) -> list[RedisServer]``,
                                        fresh servers, closed at teardown
``zookeeper_server``          function  :class:`ZooKeeperServer`, running, every znode removed
``zookeeper_ensemble``        function  :class:`~accord.testing.ZooKeeperEnsemble`: 3 members,
                                        all serving, every znode removed
``postgres_databases``        function  two :class:`ScratchDatabase`, empty, nothing prepared
``mysql_database``            function  one :class:`ScratchDatabase` (InnoDB, XA), empty
``amqp_broker_url``           session   a RabbitMQ URL that answered
``redis_broker_url``          session   ``redis://...`` of a Redis started for the broker
``sentinel_group``            function  :class:`~accord.testing.redis_ha.SentinelGroup`: 1 master,
                                        1 replica, 3 Sentinels, settled and empty
``redis_cluster``             function  :class:`~accord.testing.redis_ha.RedisClusterGroup`: 3
                                        masters, 3 replicas, ``cluster_state:ok``, empty
============================  ========  =====================================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import pytest

from accord.testing import _env
from accord.testing.brokers import check_amqp
from accord.testing.databases import MySQLDatabase, PostgresDatabases, ScratchDatabase
from accord.testing.errors import ServiceUnavailable
from accord.testing.postgres import close_shared_postgres
from accord.testing.redis_ha import RedisClusterGroup, SentinelGroup
from accord.testing.servers import ZOOKEEPER_SUPERUSER, RedisServer, ZooKeeperServer
from accord.testing.zookeeper_ensemble import ZooKeeperEnsemble

_Server = TypeVar("_Server", RedisServer, ZooKeeperServer)

__all__ = [
    "amqp_broker_url",
    "mysql_database",
    "mysql_session_database",
    "postgres_databases",
    "postgres_session_databases",
    "redis_broker_url",
    "redis_cluster",
    "redis_cluster_session",
    "redis_nodes",
    "redis_server",
    "redis_session_server",
    "sentinel_group",
    "sentinel_group_session",
    "service_unavailable",
    "services",
    "zookeeper_server",
    "zookeeper_session_server",
]


def service_unavailable(exc: ServiceUnavailable) -> NoReturn:
    """Skip the current test because of ``exc``, or fail it if ``ACCORD_REQUIRE_SERVICES=1``."""
    if _env.services_required():
        pytest.fail(f"{exc} (failing because {_env.REQUIRE_SERVICES}=1)", pytrace=False)
    pytest.skip(str(exc))


@contextlib.contextmanager
def services() -> Iterator[None]:
    """A block in which :class:`ServiceUnavailable` skips (or fails) the test, as above."""
    try:
        yield
    except ServiceUnavailable as exc:
        service_unavailable(exc)


def _revive(server: RedisServer | ZooKeeperServer) -> None:
    server.resume()  # harmless unless a test paused it
    with services():
        server.start()  # a no-op unless a test stopped or killed it


def _serve(server: _Server) -> Iterator[_Server]:
    """Start ``server`` for a fixture; close it (and remove its files) even if start fails."""
    try:
        with services():
            server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_session_server() -> Iterator[RedisServer]:
    """One Redis for the whole session; prefer :func:`redis_server`, which also empties it."""
    yield from _serve(RedisServer())


@pytest.fixture
def redis_server(redis_session_server: RedisServer) -> RedisServer:
    """The session's Redis, running on its port and empty at the start of the test."""
    _revive(redis_session_server)
    redis_session_server.flushall()
    return redis_session_server


@pytest.fixture
def redis_nodes() -> Iterator[Callable[..., list[RedisServer]]]:
    """A factory: ``redis_nodes(3)`` starts three fresh Redis servers; all close at teardown.

    Keyword arguments go to :class:`RedisServer`. A missing ``redis-server``
    skips (or fails) the test when the factory is called.
    """
    started: list[RedisServer] = []

    def start(count: int = 1, **kwargs: Any) -> list[RedisServer]:
        servers = []
        for _ in range(count):
            server = RedisServer(**kwargs)
            started.append(server)  # closed at teardown even if it fails to start
            with services():
                server.start()
            servers.append(server)
        return servers

    yield start
    for server in started:
        server.close()


@pytest.fixture(scope="session")
def zookeeper_session_server() -> Iterator[ZooKeeperServer]:
    """One ZooKeeper for the whole session; prefer :func:`zookeeper_server`."""
    yield from _serve(ZooKeeperServer())


def _remove_all_znodes(hosts: str) -> None:
    try:
        from kazoo.client import KazooClient
    except ImportError:  # nothing can have written znodes without a client
        return
    user, password = ZOOKEEPER_SUPERUSER  # removes znodes whatever their ACL
    client = KazooClient(hosts=hosts, timeout=5.0, auth_data=[("digest", f"{user}:{password}")])
    client.start(timeout=10.0)
    try:
        for child in client.get_children("/"):
            if child != "zookeeper":  # the server's own subtree
                client.delete(f"/{child}", recursive=True)
    finally:
        client.stop()
        client.close()


@pytest.fixture
def zookeeper_server(zookeeper_session_server: ZooKeeperServer) -> ZooKeeperServer:
    """The session's ZooKeeper, running on its port, with every znode of earlier tests removed."""
    _revive(zookeeper_session_server)
    _remove_all_znodes(zookeeper_session_server.hosts)
    return zookeeper_session_server


@pytest.fixture(scope="session")
def zookeeper_ensemble_session() -> Iterator[ZooKeeperEnsemble]:
    """One 3-member ZooKeeper ensemble for the whole session; prefer :func:`zookeeper_ensemble`."""
    ensemble = ZooKeeperEnsemble()
    try:
        with services():
            ensemble.start()
        yield ensemble
    finally:
        ensemble.close()


@pytest.fixture
def zookeeper_ensemble(zookeeper_ensemble_session: ZooKeeperEnsemble) -> ZooKeeperEnsemble:
    """The session's ensemble with every member back and serving, and every znode removed.

    Tests may kill the leader or a follower, pause or restart members
    (see :mod:`accord.testing.zookeeper_ensemble`); the next test gets them back.
    """
    with services():
        zookeeper_ensemble_session.reset()
    _remove_all_znodes(zookeeper_ensemble_session.hosts)
    return zookeeper_ensemble_session


@pytest.fixture(scope="session", autouse=True)
def _accord_private_servers() -> Iterator[None]:
    """Stop the private PostgreSQL cluster (if one was started) when the session ends."""
    yield
    close_shared_postgres()


@pytest.fixture(scope="session")
def postgres_session_databases() -> Iterator[PostgresDatabases]:
    """Two PostgreSQL databases created for the session and dropped at its end.

    On the server :class:`PostgresDatabases` picks: a private cluster when
    the default server cannot prepare transactions.
    """
    databases = PostgresDatabases(2)
    try:
        with services():
            databases.create()
        yield databases
    finally:
        databases.drop()


@pytest.fixture
def postgres_databases(
    postgres_session_databases: PostgresDatabases,
) -> tuple[ScratchDatabase, ScratchDatabase]:
    """Two empty PostgreSQL databases (no tables, nothing prepared) on a server able to 2PC."""
    with services():
        postgres_session_databases.reset()
    first, second = postgres_session_databases.databases
    return first, second


@pytest.fixture(scope="session")
def mysql_session_database() -> Iterator[MySQLDatabase]:
    """A MariaDB/MySQL database created for the session and dropped at its end."""
    database = MySQLDatabase()
    try:
        with services():
            database.create()
        yield database
    finally:
        database.drop()


@pytest.fixture
def mysql_database(mysql_session_database: MySQLDatabase) -> ScratchDatabase:
    """An empty InnoDB database; XA branches prepared by earlier tests are rolled back."""
    with services():
        mysql_session_database.reset()
    assert mysql_session_database.database is not None
    return mysql_session_database.database


@pytest.fixture(scope="session")
def amqp_broker_url() -> str:
    """The RabbitMQ URL from ``ACCORD_TEST_AMQP_URL`` (or the default), checked with kombu."""
    try:
        return check_amqp()
    except ServiceUnavailable as exc:
        service_unavailable(exc)


@pytest.fixture(scope="session")
def redis_broker_url() -> Iterator[str]:
    """``redis://...`` of a Redis started for the session's Celery broker and result backend."""
    for server in _serve(RedisServer()):
        yield f"{server.url}/0"


@pytest.fixture(scope="session")
def sentinel_group_session() -> Iterator[SentinelGroup]:
    """One Sentinel group for the whole session; prefer :func:`sentinel_group`."""
    group = SentinelGroup()
    try:
        with services():
            group.start()
        yield group
    finally:
        group.close()


@pytest.fixture
def sentinel_group(sentinel_group_session: SentinelGroup) -> SentinelGroup:
    """The session's Sentinel group, whole again (killed servers back as replicas) and empty.

    Tests may kill or pause its master (``kill_master()``, ``pause_master()``)
    and wait for the Sentinels (``wait_for_promotion(old_address)``).
    """
    with services():
        sentinel_group_session.reset()
    return sentinel_group_session


@pytest.fixture(scope="session")
def redis_cluster_session() -> Iterator[RedisClusterGroup]:
    """One 3-master, 3-replica Redis Cluster for the whole session; prefer :func:`redis_cluster`."""
    cluster = RedisClusterGroup()
    try:
        with services():
            cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def redis_cluster(redis_cluster_session: RedisClusterGroup) -> RedisClusterGroup:
    """The session's Redis Cluster, every node back and every slot served, with no keys."""
    with services():
        redis_cluster_session.reset()
    return redis_cluster_session
