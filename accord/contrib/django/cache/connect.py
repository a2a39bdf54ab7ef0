"""redis-py clients for each node: a plain server, a Sentinel group, or the Redis Cluster.

Every client is redis-py's own: ``ConnectionPool`` (or ``pool_class``) for a
server, ``Sentinel(...).master_for(service)`` for a group, ``RedisCluster``
for a cluster; the ``redis.asyncio`` twins for async calls (``async_pool_class``,
``async_parser_class``). Clients are built on first use, so a node that is
down never fails the cache's construction.

Failure behaviour: :func:`connection_errors` lists what counts as "this node
failed": connection errors, timeouts, and a reply that is not Redis protocol
(a port answered by another server). After such a failure of a Sentinel
group, :meth:`SyncNodes.forget_connections` drops its idle connections and
its idea of the master, so the next connection asks the Sentinels again and
no connection to a demoted master outlives the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from typing import Any

from django.utils.module_loading import import_string

from accord.contrib.django.cache.config import CacheConfig
from accord.contrib.django.cache.locations import NodeConfig
from accord.core.optional import import_optional
from accord.core.redis_url import split_sentinel_options

__all__ = [
    "AsyncNodes",
    "MasterSwitched",
    "SwitchWatch",
    "SyncNodes",
    "connection_errors",
    "redis_module",
]


class MasterSwitched(ConnectionError):
    """A group's master changed while a call ran: its replies from that group are dropped.

    A ``ConnectionError`` (an ``OSError``), so it is handled as a node failure:
    raised under ``failover="raise"``, a miss otherwise.
    """


class SwitchWatch:
    """Counts master switches of groups, noticed from redis-py's own state (no extra I/O).

    A Sentinel pool records the master it last connected to
    (``master_address``); a cluster client rebuilds its slot table (a new
    ``slots_cache``) only after a connection error or ``CLUSTERDOWN`` (MOVED
    updates it in place, as ``reinitialize_steps`` is set out of reach).
    Either change after the first is a switch.
    """

    def __init__(self) -> None:
        self._seen: dict[str, object] = {}
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, name: str, kind: str, client: Any) -> int:
        """The number of switches of *name* noticed so far (notices one now if there is)."""
        if kind == "sentinel":
            current: object = getattr(client.connection_pool, "master_address", None)
        else:
            current = id(client.nodes_manager.slots_cache)
        if current is None:
            return self._count.get(name, 0)
        with self._lock:
            seen = self._seen.get(name)
            if seen is not None and seen != current:
                self._count[name] = self._count.get(name, 0) + 1
            self._seen[name] = current
            return self._count.get(name, 0)


def redis_module() -> Any:
    """redis-py, or MissingDependency naming the ``accord[redis]`` extra."""
    return import_optional("redis", extra="redis", purpose="RingCache (a Redis cache backend)")


_ERRORS: tuple[type[BaseException], ...] = ()


def connection_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean "this node is unreachable, too slow, or not Redis"."""
    global _ERRORS
    if not _ERRORS:
        _ERRORS = _connection_errors()
    return _ERRORS


def _connection_errors() -> tuple[type[BaseException], ...]:
    redis = redis_module()
    exceptions = redis.exceptions
    extra = tuple(
        getattr(exceptions, name)
        for name in (
            "InvalidResponse",
            "ClusterDownError",
            "TryAgainError",
            "MasterDownError",
            "SlotNotCoveredError",
        )
        if hasattr(exceptions, name)
    )
    return (exceptions.ConnectionError, exceptions.TimeoutError, OSError, *extra)


_NEVER = 1 << 62


def _option(value: Any) -> Any:
    return import_string(value) if isinstance(value, str) else value


def _split_sentinel_options(node: NodeConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options for the Sentinels, options for the data nodes)."""
    return split_sentinel_options(node.options, tls=node.tls, db=node.db)


def _cluster_options(node: NodeConfig) -> dict[str, Any]:
    options = {k: v for k, v in node.options.items() if k not in ("db", "max_connections")}
    if node.tls:
        options["ssl"] = True
    return options


class SyncNodes:
    """The sync redis-py client of every node, built on first use (thread-safe)."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._nodes = {node.name: node for node in config.nodes}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.switches = SwitchWatch()

    def client(self, name: str) -> Any:
        """The client of node *name*: ``redis.Redis`` or ``redis.cluster.RedisCluster``."""
        client = self._clients.get(name)
        if client is None:
            with self._lock:
                client = self._clients.get(name)
                if client is None:
                    client = self._clients[name] = self._built(self._nodes[name])
        return client

    def _built(self, node: NodeConfig) -> Any:
        redis = redis_module()
        try:
            return self._build(node)
        except redis.exceptions.RedisClusterException as exc:  # no startup node answered
            raise redis.exceptions.ConnectionError(f"Redis Cluster {node.name}: {exc}") from exc

    def kind(self, name: str) -> str:
        """``redis``, ``sentinel`` or ``cluster``."""
        return self._nodes[name].kind

    def _build(self, node: NodeConfig) -> Any:
        redis = redis_module()
        options = self.config.options
        parser_class = _option(options.parser_class)
        extra = {"parser_class": parser_class} if parser_class is not None else {}
        if node.kind == "cluster":
            from redis.backoff import NoBackoff
            from redis.cluster import ClusterNode, RedisCluster
            from redis.retry import Retry

            return RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in node.hosts],
                require_full_coverage=False,
                retry=Retry(NoBackoff(), 0),  # a failure reaches the router, which decides
                reinitialize_steps=_NEVER,  # MOVED updates slots in place: see SwitchWatch
                **_cluster_options(node),
                **extra,
            )
        if node.kind == "sentinel":
            from redis.sentinel import Sentinel, SentinelConnectionPool

            sentinel_kwargs, data = _split_sentinel_options(node)
            manager = Sentinel(list(node.hosts), sentinel_kwargs=sentinel_kwargs, **data, **extra)
            pool_class = _option(options.pool_class) or SentinelConnectionPool
            return manager.master_for(node.service, connection_pool_class=pool_class)
        pool_class = _option(options.pool_class) or redis.ConnectionPool
        pool = pool_class.from_url(node.url, **{**node.options, **extra})
        return redis.Redis(connection_pool=pool)

    def forget_connections(self, name: str) -> None:
        """After a failure of a Sentinel group: idle connections go, the master is asked again."""
        if self._nodes[name].kind != "sentinel" or name not in self._clients:
            return
        pool = self._clients[name].connection_pool
        with contextlib.suppress(Exception):  # best effort: the next connect rediscovers anyway
            pool.disconnect(inuse_connections=False)
            pool.reset()  # in-use connections are closed when they come back


class AsyncNodes:
    """The ``redis.asyncio`` client of every node, one set per event loop.

    asyncio connections belong to the loop that opened them, so each loop
    gets its own clients, forgotten when the loop is garbage-collected.
    """

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._nodes = {node.name: node for node in config.nodes}
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self.switches = SwitchWatch()

    def clients(self) -> dict[str, Any]:
        """The current loop's clients by node name (created on first use)."""
        loop = asyncio.get_running_loop()
        clients = self._by_loop.get(loop)
        if clients is None:
            clients = self._by_loop[loop] = {}
        return clients

    def kind(self, name: str) -> str:
        """``redis``, ``sentinel`` or ``cluster``."""
        return self._nodes[name].kind

    def client(self, name: str) -> Any:
        """The current loop's client of node *name*."""
        clients = self.clients()
        client = clients.get(name)
        if client is None:
            client = clients[name] = self._build(self._nodes[name])
        return client

    def _build(self, node: NodeConfig) -> Any:
        aredis = import_optional(
            "redis.asyncio", extra="redis", purpose="RingCache's async methods"
        )
        options = self.config.options
        parser_class = _option(options.async_parser_class)
        extra = {"parser_class": parser_class} if parser_class is not None else {}
        if node.kind == "cluster":
            from redis.asyncio.cluster import ClusterNode, RedisCluster
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            return RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in node.hosts],
                require_full_coverage=False,
                retry=Retry(NoBackoff(), 0),
                reinitialize_steps=_NEVER,
                **_cluster_options(node),
                **extra,
            )
        if node.kind == "sentinel":
            from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

            sentinel_kwargs, data = _split_sentinel_options(node)
            manager = Sentinel(list(node.hosts), sentinel_kwargs=sentinel_kwargs, **data, **extra)
            pool_class = _option(options.async_pool_class) or SentinelConnectionPool
            return manager.master_for(node.service, connection_pool_class=pool_class)
        pool_class = _option(options.async_pool_class) or aredis.ConnectionPool
        pool = pool_class.from_url(node.url, **{**node.options, **extra})
        return aredis.Redis(connection_pool=pool)

    def forget_connections(self, name: str) -> None:
        """The async twin of :meth:`SyncNodes.forget_connections` (for the current loop)."""
        client = self.clients().get(name)
        if client is not None and self._nodes[name].kind == "sentinel":
            with contextlib.suppress(Exception):
                client.connection_pool.reset()

    async def aclose(self) -> None:
        """Disconnect and forget the current loop's connections. Never raises."""
        clients = self._by_loop.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            with contextlib.suppress(Exception):  # best effort: the clients are dropped anyway
                await client.aclose()
