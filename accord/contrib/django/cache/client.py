"""The client behind RingCache: each key to its ring node, batches per node.

:class:`RingCacheClient` takes full keys (prefix and version already
applied) and backend timeouts (seconds, ``None`` for "forever", 0 for
"expire now"), as Django's ``RedisCacheClient`` does. Its ``a*`` methods,
in :mod:`accord.contrib.django.cache.aclient`, do the same on
``redis.asyncio``.

Failure behaviour: a Redis error reply (e.g. ``INCR`` on a pickled value)
always propagates as ``redis.ResponseError``; serializer errors propagate
before anything is sent. A connection error or timeout propagates under
``failover="raise"``; under ``"miss"`` and ``"eject"`` it never does: see
:mod:`accord.contrib.django.cache.routing` for what happens instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache.backends.redis import RedisSerializer
from django.utils.module_loading import import_string

from accord.contrib.django.cache.aclient import AsyncClientMixin
from accord.contrib.django.cache.config import CacheConfig
from accord.contrib.django.cache.nodes import (
    AsyncNodes,
    Command,
    SyncNode,
    connection_errors,
    scatter,
)
from accord.contrib.django.cache.routing import Repair, Router, split_misses
from accord.core.optional import import_optional

__all__ = ["RingCacheClient"]

_DELETE_CHUNK = 1000


def set_commands(items: Iterable[tuple[str, Any]], timeout: float | None) -> list[Command]:
    """The commands that store *items* (serialized) with *timeout*."""
    items = list(items)
    if timeout == 0:
        return [("DEL", *(key for key, _ in items))] if items else []
    if timeout is None:
        return [("MSET", *(part for item in items for part in item))] if items else []
    return [("SET", key, value, "EX", int(timeout)) for key, value in items]


class RingCacheClient(AsyncClientMixin):
    """Talks to the ring's Redis nodes for one cache alias.

    :param config: a configuration from :func:`~.config.parse_config`.
    Connections are opened on first use, so building a client never fails
    because a node is down.
    """

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.source = f"cache:{config.alias}"
        self._router = Router(config, self.source)
        self._nodes = {node.name: SyncNode(node, config) for node in config.nodes}
        self._anodes = AsyncNodes(config)
        serializer = config.serializer
        if isinstance(serializer, str):
            serializer = import_string(serializer)
        if callable(serializer):
            serializer = serializer()
        self._serializer = serializer or RedisSerializer()
        self._errors = connection_errors()
        self._no_script = import_optional(
            "redis", extra="redis", purpose="RingCache (a Redis cache backend)"
        ).exceptions.NoScriptError
        self._raise = config.failover == "raise"

    @property
    def router(self) -> Router:
        """The ring and the failover state (read-only use, e.g. for stats)."""
        return self._router

    def get_client(self, key: str | None = None, *, write: bool = False) -> Any:
        """The ``redis.Redis`` of the node serving *key* (the first node if None).

        Under ``eject`` this may be a stand-in node. *write* is accepted for
        the signature of Django's ``RedisCacheClient`` and does not matter.
        """
        if key is None:
            return self._nodes[self.config.nodes[0].name].client
        node = self._target(key)[0] or self._router.ring.get_node(key)
        return self._nodes[node].client

    # ------------------------------------------------------------ routing

    def _target(self, key: str) -> tuple[str | None, str]:
        router = self._router
        home = router.ring.get_node(key)
        if router.health[home].ok:
            return home, home
        node, home = router.place(key)
        if node != home and self._repair(home):
            node = home
        if node is not None and not router.health[node].ok and not self._repair(node):
            return None, home
        return node, home

    def _repair(self, name: str) -> bool:
        """Do the repair *name* needs; True if it may serve now."""
        repair = self._router.repair_due(name)
        if repair is None:
            health = self._router.health[name]
            return not health.out and not health.pending and not health.flush_needed
        try:
            self._run_repair(repair)
        except self._errors as exc:
            self._router.repair_failed(repair, exc)
            return False
        return True

    def _run_repair(self, repair: Repair) -> None:
        client = self._nodes[repair.node].client
        if repair.flush:
            client.flushdb(asynchronous=True)
        keys = list(repair.delete)
        for start in range(0, len(keys), _DELETE_CHUNK):
            client.delete(*keys[start : start + _DELETE_CHUNK])
        batches = {
            self._nodes[node]: [("DEL", *keys)]
            for node, keys in repair.fallback.items()
            if keys and not self._router.health[node].out
        }
        leftovers = {}
        for node, reply in scatter(batches).items():
            if isinstance(reply, BaseException):
                leftovers[node] = repair.fallback[node]
        self._router.repaired(repair, leftovers)

    def _failed(
        self, node: str, exc: BaseException, written: Iterable[str] = (), reads: int = 0
    ) -> None:
        if self._raise:
            raise exc
        self._router.failed(node, exc, written=written, reads=reads)

    def _write_timeout(self, node: str, home: str, keys: list[str], timeout: Any) -> Any:
        """The timeout to write with on *node*: capped on a stand-in, 0 if untracked."""
        if node == home:
            return timeout
        if not self._router.track_stand_in(home, node, keys):
            return 0
        return self._router.stand_in_timeout(timeout)

    def _plan(self, keys: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
        if self._router.healthy():
            return self._router.group(keys), []
        slow: dict[str | None, list[str]] = {}
        for key in keys:
            slow.setdefault(self._target(key)[0], []).append(key)
        return split_misses(slow)

    # ---------------------------------------------------- single-key calls

    def add(self, key: str, value: Any, timeout: float | None) -> bool:
        """SET NX; True if the key was absent. A failed node: False (nothing stored)."""
        value = self._serializer.dumps(value)
        node, home = self._target(key)
        if node is None:
            self._router.skipped(home, written=1)
            return False
        timeout = self._write_timeout(node, home, [key], timeout)
        client = self._nodes[node].client
        try:
            if timeout == 0:
                added = bool(client.set(key, value, nx=True))
                if added:
                    client.delete(key)
            else:
                added = bool(client.set(key, value, ex=timeout, nx=True))
        except self._errors as exc:
            self._failed(node, exc, written=[key])
            return False
        if not self._router.health[node].ok:
            self._router.succeeded(node)
        return added

    def get(self, key: str, default: Any) -> Any:
        """GET; *default* on a miss, including a failed node."""
        node, home = self._target(key)
        if node is None:
            self._router.skipped(home, reads=1)
            return default
        try:
            value = self._nodes[node].client.get(key)
        except self._errors as exc:
            self._failed(node, exc, reads=1)
            return default
        if not self._router.health[node].ok:
            self._router.succeeded(node)
        return default if value is None else self._serializer.loads(value)

    def set(self, key: str, value: Any, timeout: float | None) -> None:
        """SET (DEL when *timeout* is 0). A failed node drops the write."""
        value = self._serializer.dumps(value)
        node, home = self._target(key)
        if node is None:
            self._router.skipped(home, written=1)
            return
        timeout = self._write_timeout(node, home, [key], timeout)
        client = self._nodes[node].client
        try:
            if timeout == 0:
                client.delete(key)
            else:
                client.set(key, value, ex=timeout)
        except self._errors as exc:
            self._failed(node, exc, written=[key])
            return
        if not self._router.health[node].ok:
            self._router.succeeded(node)

    def _simple(self, key: str, command: Command, *, write: bool, missing: Any) -> Any:
        node, home = self._target(key)
        if node is None:
            self._router.skipped(home, written=int(write), reads=int(not write))
            return missing
        try:
            reply = self._nodes[node].client.execute_command(*command)
        except self._errors as exc:
            self._failed(node, exc, written=[key] if write else (), reads=int(not write))
            return missing
        if not self._router.health[node].ok:
            self._router.succeeded(node)
        return reply

    def touch(self, key: str, timeout: float | None) -> bool:
        """PERSIST or EXPIRE; True if the key exists. A failed node: False."""
        command = ("PERSIST", key) if timeout is None else ("EXPIRE", key, int(timeout))
        return bool(self._simple(key, command, write=True, missing=False))

    def delete(self, key: str) -> bool:
        """DEL; True if a key was deleted. A failed node: False (deleted on its return)."""
        return bool(self._simple(key, ("DEL", key), write=True, missing=False))

    def has_key(self, key: str) -> bool:
        """EXISTS. A failed node: False."""
        return bool(self._simple(key, ("EXISTS", key), write=False, missing=False))

    def incr(self, key: str, delta: int) -> int:
        """Atomically add *delta* to an existing integer.

        :raises ValueError: the key does not exist (or its node failed, under
            ``miss``/``eject``).
        :raises redis.ResponseError: the value is not an integer.
        """
        node, home = self._target(key)
        reply = None
        if node is None:
            self._router.skipped(home, written=1)
        else:
            try:
                reply = self._nodes[node].incr(keys=[key], args=[delta])
            except self._errors as exc:
                self._failed(node, exc, written=[key])
            else:
                self._router.succeeded(node)
        if reply is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(reply)

    # ------------------------------------------------------ multi-key calls

    def _gather(
        self, batches: Mapping[str, list[Command]], written: Mapping[str, list[str]]
    ) -> tuple[dict[str, list[Any]], list[str]]:
        """Run *batches* on their nodes at once; return replies and the failed nodes."""
        results = scatter({self._nodes[name]: cmds for name, cmds in batches.items() if cmds})
        replies: dict[str, list[Any]] = {}
        failed: list[str] = []
        for name, reply in results.items():
            if isinstance(reply, BaseException):
                failed.append(name)
                self._failed(name, reply, written=written.get(name, ()))
                continue
            for item in reply:
                if isinstance(item, Exception):
                    raise item
            replies[name] = reply
            self._router.succeeded(name)
        return replies, failed

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """One MGET per node, all nodes at once. Keys of a failed node are missing."""
        groups, misses = self._plan(keys)
        for key in misses:
            self._router.skipped(self._router.ring.get_node(key), reads=1)
        replies, _ = self._gather({n: [("MGET", *ks)] for n, ks in groups.items()}, {})
        loads = self._serializer.loads
        found = {}
        for name, (values,) in replies.items():
            for key, value in zip(groups[name], values, strict=True):
                if value is not None:
                    found[key] = loads(value)
        return found

    def set_many(self, data: Mapping[str, Any], timeout: float | None) -> list[str]:
        """One pipeline per node, all nodes at once; return the keys not stored."""
        dumps = self._serializer.dumps
        values = {key: dumps(value) for key, value in data.items()}
        groups, not_stored = self._plan(values)
        for key in not_stored:
            self._router.skipped(self._router.ring.get_node(key), written=1)
        batches = {}
        for node, keys in groups.items():
            commands: list[Command] = []
            by_timeout: dict[Any, list[str]] = {}
            for key in keys:
                home = self._router.ring.get_node(key)
                by_timeout.setdefault(self._write_timeout(node, home, [key], timeout), []).append(
                    key
                )
            for key_timeout, members in by_timeout.items():
                commands += set_commands(((k, values[k]) for k in members), key_timeout)
            batches[node] = commands
        _, failed = self._gather(batches, groups)
        return not_stored + [key for node in failed for key in groups[node]]

    def delete_many(self, keys: Iterable[str]) -> int:
        """One DEL per node, all nodes at once; return how many keys were deleted."""
        groups, misses = self._plan(keys)
        for key in misses:
            self._router.skipped(self._router.ring.get_node(key), written=1)
        replies, _ = self._gather({n: [("DEL", *ks)] for n, ks in groups.items()}, groups)
        return sum(int(reply[0]) for reply in replies.values())

    def clear(self) -> bool:
        """FLUSHDB on every node at once. A failed node is flushed before its next use."""
        batches = {}
        for name, health in self._router.health.items():
            if health.out:
                self._router.mark_flush_needed(name)
            else:
                batches[name] = [("FLUSHDB", "ASYNC")]
        _, failed = self._gather(batches, {})
        for name in failed:
            self._router.mark_flush_needed(name)
        return not failed

    def close(self) -> None:
        """Keep the pools open across requests, as Django's RedisCache does. Never raises."""
