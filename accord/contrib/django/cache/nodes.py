"""Connections to the Redis nodes of a ring, and sending to several at once.

:func:`scatter` is how a multi-key call costs one round trip in sync code
without threads: it writes every node's commands to its connection first,
then reads the replies, so all nodes work at the same time.

Failure behaviour: a connection error or timeout on one node never stops
the others; it is returned in that node's slot for the caller to judge. A
connection that failed, or was left with unread replies, is disconnected
before it goes back to its pool, so it is never reused in a bad state.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.module_loading import import_string

from accord.contrib.django.cache.config import CacheConfig, NodeConfig
from accord.core.optional import import_optional

__all__ = ["INCR_SCRIPT", "AsyncNodes", "Command", "SyncNode", "connection_errors", "scatter"]

#: A Redis command: its name and arguments.
Command = tuple[Any, ...]
#: INCRBY only if the key exists, in one atomic round trip (Django checks EXISTS first).
INCR_SCRIPT = (
    "if redis.call('exists', KEYS[1]) == 1 then "
    "return redis.call('incrby', KEYS[1], ARGV[1]) end return nil"
)


def _redis() -> Any:
    return import_optional("redis", extra="redis", purpose="RingCache (a Redis cache backend)")


def connection_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean "this node is unreachable or too slow", not "bad command"."""
    redis = _redis()
    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def _option(value: Any) -> Any:
    return import_string(value) if isinstance(value, str) else value


class SyncNode:
    """One node's connection pool and client, for sync code. Connects lazily."""

    def __init__(self, node: NodeConfig, config: CacheConfig) -> None:
        redis = _redis()
        self.name = node.name
        self.config = node
        pool_class = _option(config.pool_class) or redis.ConnectionPool
        kwargs = dict(node.options)
        parser_class = _option(config.parser_class)
        if parser_class is not None:
            kwargs["parser_class"] = parser_class
        self.pool = pool_class.from_url(node.url, **kwargs)
        self.client = redis.Redis(connection_pool=self.pool)
        self.incr = self.client.register_script(INCR_SCRIPT)
        params = inspect.signature(self.pool.get_connection).parameters
        # redis-py < 5.3 requires a command name; later versions deprecate passing one.
        name = params.get("command_name")
        self._name_required = name is not None and name.default is inspect.Parameter.empty

    def get_connection(self) -> Any:
        """A connected connection from the pool; raises a connection error if down."""
        if self._name_required:
            return self.pool.get_connection("_")
        return self.pool.get_connection()

    def __repr__(self) -> str:
        return f"<SyncNode {self.name!r}>"


def scatter(
    batches: Mapping[SyncNode, Sequence[Command]],
) -> dict[str, list[Any] | BaseException]:
    """Send each node its commands, all nodes at once; return replies per node name.

    A node's slot holds its replies in order (a Redis error reply appears as
    a ``ResponseError`` instance in its place), or the connection error that
    stopped it. Other exceptions propagate after every connection is cleaned up.
    """
    errors = connection_errors()
    results: dict[str, list[Any] | BaseException] = {}
    sent: list[tuple[SyncNode, Any, int]] = []
    unfinished: dict[int, tuple[SyncNode, Any]] = {}
    try:
        for node, commands in batches.items():
            try:
                conn = node.get_connection()
            except errors as exc:
                results[node.name] = exc
                continue
            unfinished[id(conn)] = (node, conn)
            try:
                conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            except errors as exc:
                results[node.name] = exc
                continue
            sent.append((node, conn, len(commands)))
        for node, conn, count in sent:
            try:
                results[node.name] = _read_replies(conn, count)
            except errors as exc:
                results[node.name] = exc
                continue
            del unfinished[id(conn)]
            node.pool.release(conn)
    finally:
        for node, conn in unfinished.values():
            conn.disconnect()
            node.pool.release(conn)
    return results


def _read_replies(conn: Any, count: int) -> list[Any]:
    response_error = _redis().exceptions.ResponseError
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except response_error as exc:
            replies.append(exc)
    return replies


class AsyncNodes:
    """The ``redis.asyncio`` clients of every node, one set per event loop.

    asyncio connections belong to the loop that opened them, so each loop
    gets its own pools, forgotten when the loop is garbage-collected.
    """

    def __init__(self, config: CacheConfig) -> None:
        self._config = config
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def clients(self) -> dict[str, Any]:
        """The current loop's clients by node name (created on first use)."""
        loop = asyncio.get_running_loop()
        clients = self._by_loop.get(loop)
        if clients is None:
            asyncio_redis = import_optional(
                "redis.asyncio", extra="redis", purpose="RingCache's async methods"
            )
            clients = {}
            for node in self._config.nodes:
                pool = asyncio_redis.ConnectionPool.from_url(node.url, **node.options)
                clients[node.name] = asyncio_redis.Redis(connection_pool=pool)
            self._by_loop[loop] = clients
        return clients

    async def aclose(self) -> None:
        """Disconnect and forget the current loop's connections. Never raises."""
        clients = self._by_loop.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            # Closing is best effort: the pool is dropped anyway.
            with contextlib.suppress(Exception):
                await client.connection_pool.disconnect()
