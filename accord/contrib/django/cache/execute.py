"""The sync executor: carries out the router's repairs and a call's batches, nothing else.

:func:`scatter` is how a multi-node call costs one round trip without
threads: it writes every node's commands to its connection first, then reads
the replies, so all nodes work at the same time. A Redis Cluster's batch goes
through redis-py's cluster pipeline, which groups commands by master, sends
them the same way and follows ``MOVED``/``ASK`` redirections.

Failure behaviour: a connection error on one node never stops the others; it
is returned in that node's slot (the call's ``finish`` judges it, raising
under ``failover="raise"``). A connection that failed, or was left with
unread replies, is disconnected before it goes back to its pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from accord.contrib.django.cache.connect import (
    MasterSwitched,
    SyncNodes,
    connection_errors,
    redis_module,
)
from accord.contrib.django.cache.keys import glob_escape
from accord.contrib.django.cache.plan import Call, Command, Repair
from accord.contrib.django.cache.router import Router

__all__ = ["SyncExecutor", "scatter"]

SCAN_COUNT = 1000
_REDIRECT_NAMES = ("MovedError", "AskError", "TryAgainError", "ClusterDownError")


def scatter(
    pools: Mapping[str, Any], batches: Mapping[str, Sequence[Command]]
) -> dict[str, list[Any] | BaseException]:
    """Send each pool its commands, all at once; return the replies (or the error) per name."""
    errors = connection_errors()
    response_error = _response_error()
    if len(batches) == 1:
        return _send_one(pools, batches, errors, response_error)
    results: dict[str, list[Any] | BaseException] = {}
    sent: list[tuple[str, Any, Any, int]] = []
    unfinished: dict[int, tuple[Any, Any]] = {}
    try:
        for name, commands in batches.items():
            pool = pools[name]
            try:
                conn = pool.get_connection()
            except errors as exc:
                results[name] = exc
                continue
            unfinished[id(conn)] = (pool, conn)
            try:
                conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            except errors as exc:
                results[name] = exc
                continue
            sent.append((name, pool, conn, len(commands)))
        for name, pool, conn, count in sent:
            replies: list[Any] = []
            try:
                for _ in range(count):
                    try:
                        replies.append(conn.read_response())
                    except response_error as exc:
                        replies.append(exc)
            except errors as exc:
                results[name] = exc
                continue
            results[name] = replies
            del unfinished[id(conn)]
            pool.release(conn)
    finally:
        for pool, conn in unfinished.values():
            conn.disconnect()
            pool.release(conn)
    return results


def _response_error() -> type[BaseException]:
    global _RESPONSE_ERROR
    if _RESPONSE_ERROR is None:
        _RESPONSE_ERROR = redis_module().exceptions.ResponseError
    return _RESPONSE_ERROR


_RESPONSE_ERROR: type[BaseException] | None = None


def _redirects() -> tuple[type[BaseException], ...]:
    """redis-py's exceptions for MOVED, ASK, TRYAGAIN and CLUSTERDOWN replies."""
    exceptions = redis_module().exceptions
    return tuple(getattr(exceptions, name) for name in _REDIRECT_NAMES)


def _send_one(
    pools: Mapping[str, Any],
    batches: Mapping[str, Sequence[Command]],
    errors: tuple[type[BaseException], ...],
    response_error: type[BaseException],
) -> dict[str, list[Any] | BaseException]:
    """:func:`scatter` for one node: the common single-key call, without the bookkeeping."""
    ((name, commands),) = batches.items()
    pool = pools[name]
    try:
        conn = pool.get_connection()
    except errors as exc:
        return {name: exc}
    clean = False
    try:
        conn.send_packed_command(conn.pack_commands(commands), check_health=False)
        replies: list[Any] = []
        for _ in range(len(commands)):
            try:
                replies.append(conn.read_response())
            except response_error as exc:
                replies.append(exc)
        clean = True
        return {name: replies}
    except errors as exc:
        return {name: exc}
    finally:
        if not clean:
            conn.disconnect()
        pool.release(conn)


class SyncExecutor:
    """Runs calls for sync code: repairs first, then one round trip for the call."""

    def __init__(self, nodes: SyncNodes, router: Router) -> None:
        self.nodes = nodes
        self.router = router
        self.cluster = router.config.cluster
        self._pools: dict[str, Any] = {}
        self._errors = connection_errors()
        self._groups = any(node.kind != "redis" for node in router.config.nodes)

    def run(self, homes: Iterable[str] | None, make: Callable[[], Call]) -> Any:
        """Repair *homes* if due, then build the call and carry it out."""
        if not self.router.all_ok:
            for repair in self.router.claim_repairs(homes):
                self.repair(repair)
        call = make()
        return call.finish(self.send(call.batches) if call.batches else {})

    def repair(self, repair: Repair) -> None:
        """Run *repair*'s steps in order, stopping when its node fails; report the results."""
        results: list[dict[str, Any]] = []
        try:
            for step in repair.steps:
                result = self.wipe(step.batches) if step.kind == "wipe" else self.send(step.batches)
                results.append(result)
                if isinstance(result.get(repair.node), BaseException):
                    break
        finally:
            self.router.repair_done(repair, results)

    def pool(self, name: str) -> Any:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = self.nodes.client(name).connection_pool
        return pool

    def send(self, batches: Mapping[str, Sequence[Command]]) -> dict[str, Any]:
        """Replies (or the connection error) per node; every node at once.

        A group whose master changed during the call (a failover noticed by
        redis-py's reconnection) gets :class:`~.connect.MasterSwitched`
        instead of its replies: they may come from a promoted replica that
        lacks recent writes, which the router must purge first.
        """
        if not self._groups:
            try:
                pools = {name: self.pool(name) for name in batches}
            except self._errors as exc:
                return dict.fromkeys(batches, exc)
            return scatter(pools, batches)
        groups = [name for name in batches if self.nodes.kind(name) != "redis"]
        watch = self.nodes.switches
        try:
            before = {n: watch.count(n, self.nodes.kind(n), self.nodes.client(n)) for n in groups}
        except self._errors as exc:  # a cluster whose every startup node is down
            return dict.fromkeys(batches, exc)
        if self.cluster:
            results = {name: self._pipeline(name, cmds) for name, cmds in batches.items()}
        else:
            try:
                pools = {name: self.pool(name) for name in batches}
            except self._errors as exc:  # a Sentinel group whose Sentinels are all down
                return dict.fromkeys(batches, exc)
            results = scatter(pools, batches)
        for name in groups:
            reply = results.get(name)
            if isinstance(reply, BaseException):
                self.nodes.forget_connections(name)
            elif watch.count(name, self.nodes.kind(name), self.nodes.client(name)) != before[name]:
                results[name] = MasterSwitched(f"the master of {name} changed during the call")
        return results

    def _pipeline(self, name: str, commands: Sequence[Command]) -> list[Any] | BaseException:
        """A cluster batch: grouped by master with redis-py's slot table, sent by scatter.

        Every command names one key. A reply that is a redirection (``MOVED``,
        ``ASK``) or ``TRYAGAIN``/``CLUSTERDOWN`` is retried through redis-py's
        cluster client, which follows it and updates its slot table; a master
        that fails makes redis-py rebuild the table (noticed as a switch).
        """
        client = self.nodes.client(name)
        try:
            groups: dict[str, tuple[Any, list[int]]] = {}
            for index, command in enumerate(commands):
                if len(command) < 2:  # PING (a probe): any master answers for the cluster
                    node = client.get_default_node()
                else:
                    node = client.get_node_from_key(
                        command[3] if command[0] == "EVAL" else command[1]
                    )
                groups.setdefault(node.name, (node, []))[1].append(index)
            pools = {
                n: client.get_redis_connection(node).connection_pool
                for n, (node, _) in groups.items()
            }
        except self._errors as exc:
            return exc
        results = scatter(pools, {n: [commands[i] for i in ix] for n, (_, ix) in groups.items()})
        replies: list[Any] = [None] * len(commands)
        for node_name, (_, indexes) in groups.items():
            reply = results[node_name]
            if isinstance(reply, BaseException):
                with contextlib.suppress(*self._errors):
                    client.nodes_manager.initialize()  # as redis-py does after a failure
                return reply
            for index, item in zip(indexes, reply, strict=True):
                if isinstance(item, _redirects()):
                    try:
                        item = client.execute_command(*commands[index])
                    except self._errors as exc:
                        return exc
                    except Exception as exc:  # an error reply: it goes to the caller
                        item = exc
                replies[index] = item
        return replies

    # ------------------------------------------------------- whole-node work

    def targets(self) -> dict[str, Any]:
        """Every server holding keys (each cluster master), by name, with its pool."""
        if not self.cluster:
            return {name: self.pool(name) for name in self.router.names}
        cluster = self.nodes.client(self.router.names[0])
        return {
            node.name: cluster.get_redis_connection(node).connection_pool
            for node in cluster.get_primaries()
        }

    def _scan_failed(self, name: str, error: BaseException) -> None:
        """A server failed during a scan: raise under ``raise``, else skip it (its keys)."""
        if self.router.config.failover == "raise":
            raise error
        if name in self.router.health:
            self.router.failed(name, error)

    def wipe(self, batches: Mapping[str, Any]) -> dict[str, Any]:
        """Empty each node of *batches*: FLUSHDB, or only the KEY_PREFIX's keys if one is set."""
        prefix = self.router.config.key_prefix
        result: dict[str, Any] = {}
        for name in batches:
            try:
                if prefix:
                    for _ in self.scan_delete(f"{glob_escape(prefix)}:*", only=name, strict=True):
                        pass
                elif self.cluster:
                    self.nodes.client(name).flushdb(asynchronous=True, target_nodes="primaries")
                else:
                    reply = scatter({name: self.pool(name)}, {name: [("FLUSHDB", "ASYNC")]})[name]
                    if isinstance(reply, BaseException):
                        raise reply
                result[name] = True
            except self._errors as exc:
                result[name] = exc
        return result

    def scan(self, match: str, count: int | None = None) -> Iterator[list[bytes]]:
        """Batches of keys matching *match* on every server, the servers scanned together.

        :raises: a connection error of any server (the caller decides).
        """
        pools = self.targets()
        cursors: dict[str, Any] = dict.fromkeys(pools, b"0")
        size = count or SCAN_COUNT
        while cursors:
            batches = {n: [("SCAN", c, "MATCH", match, "COUNT", size)] for n, c in cursors.items()}
            results = scatter(pools, batches)
            for name, reply in results.items():
                if isinstance(reply, BaseException):
                    self._scan_failed(name, reply)
                    del cursors[name]
                    continue
                cursor, keys = reply[0]
                if keys:
                    yield keys
                if int(cursor) == 0:
                    del cursors[name]
                else:
                    cursors[name] = cursor

    def scan_delete(
        self, match: str, *, only: str | None = None, strict: bool = False
    ) -> Iterator[int]:
        """Delete every key matching *match* (on *only*, or on every server); yield counts.

        A failing server is skipped under ``miss``/``eject`` unless *strict*
        (a wipe must not pass for done).

        Each round trip deletes what the previous one found and scans on, on
        every server at once.
        """
        pools = self.targets() if only is None or self.cluster else {only: self.pool(only)}
        cursors: dict[str, Any] = dict.fromkeys(pools, b"0")
        found: dict[str, list[bytes]] = {}
        while cursors or found:
            batches: dict[str, list[Command]] = {}
            for name in pools:
                commands: list[Command] = []
                keys = found.get(name)
                if keys:  # a cluster refuses multi-key commands across slots
                    commands += (
                        [("UNLINK", k) for k in keys] if self.cluster else [("UNLINK", *keys)]
                    )
                if name in cursors:
                    commands.append(("SCAN", cursors[name], "MATCH", match, "COUNT", SCAN_COUNT))
                if commands:
                    batches[name] = commands
            results = scatter(pools, batches)
            found = {}
            for name, reply in results.items():
                if isinstance(reply, BaseException):
                    if strict:
                        raise reply
                    self._scan_failed(name, reply)
                    cursors.pop(name, None)
                    continue
                index = sum(1 for command in batches[name] if command[0] == "UNLINK")
                if index:
                    yield sum(int(r) for r in reply[:index])
                if index < len(batches[name]):
                    cursor, keys = reply[index]
                    if keys:
                        found[name] = keys
                    if int(cursor) == 0:
                        del cursors[name]
                    else:
                        cursors[name] = cursor
