"""The async executor: the same repairs and calls as :mod:`.execute`, on ``redis.asyncio``.

Each node's batch is one ``redis.asyncio`` pipeline; all nodes are awaited
together (``asyncio.gather``), so a multi-node call costs one round trip.
Failure behaviour is the sync executor's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

from accord.contrib.django.cache.connect import AsyncNodes, MasterSwitched, connection_errors
from accord.contrib.django.cache.execute import SCAN_COUNT
from accord.contrib.django.cache.keys import glob_escape
from accord.contrib.django.cache.plan import Call, Command, Repair
from accord.contrib.django.cache.router import Router

__all__ = ["AsyncExecutor"]


class AsyncExecutor:
    """Runs calls for async code: repairs first, then one round trip for the call."""

    def __init__(self, nodes: AsyncNodes, router: Router) -> None:
        self.nodes = nodes
        self.router = router
        self.cluster = router.config.cluster
        self._errors = connection_errors()

    async def run(self, homes: Iterable[str] | None, make: Callable[[], Call]) -> Any:
        """Repair *homes* if due, then build the call and carry it out."""
        if not self.router.all_ok:
            for repair in self.router.claim_repairs(homes):
                await self.repair(repair)
        call = make()
        return call.finish(await self.send(call.batches) if call.batches else {})

    async def repair(self, repair: Repair) -> None:
        """Run *repair*'s steps in order, stopping when its node fails; report the results."""
        results: list[dict[str, Any]] = []
        try:
            for step in repair.steps:
                if step.kind == "wipe":
                    result = await self.wipe(step.batches)
                else:
                    result = await self.send(step.batches)
                results.append(result)
                if isinstance(result.get(repair.node), BaseException):
                    break
        finally:
            self.router.repair_done(repair, results)

    async def send(self, batches: Mapping[str, Sequence[Command]]) -> dict[str, Any]:
        """Replies (or the connection error) per node; every node at once.

        As in the sync executor, a group whose master changed during the call
        gets :class:`~.connect.MasterSwitched` instead of its replies.
        """
        names = list(batches)
        groups = [name for name in names if self.nodes.kind(name) != "redis"]
        watch = self.nodes.switches
        try:
            before = {n: watch.count(n, self.nodes.kind(n), self.nodes.client(n)) for n in groups}
        except self._errors as exc:
            return dict.fromkeys(batches, exc)
        replies = await asyncio.gather(*(self._pipeline(n, batches[n]) for n in names))
        results = dict(zip(names, replies, strict=True))
        for name in groups:
            kind = self.nodes.kind(name)
            if not isinstance(results[name], BaseException) and (
                watch.count(name, kind, self.nodes.client(name)) != before[name]
            ):
                results[name] = MasterSwitched(f"the master of {name} changed during the call")
        return results

    async def _pipeline(self, name: str, commands: Sequence[Command]) -> Any:
        try:
            pipe = self.nodes.client(name).pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        except self._errors as exc:
            self.nodes.forget_connections(name)
            return exc
        return replies

    async def _targets(self) -> dict[str, Any]:
        if not self.cluster:
            return {name: self.nodes.client(name) for name in self.router.names}
        cluster = self.nodes.client(self.router.names[0])
        await cluster.initialize()  # a no-op once the slots are known
        return {node.name: node for node in cluster.get_primaries()}

    async def _on(self, target: Any, *command: Any) -> Any:
        # A redis.asyncio client, or a cluster's ClusterNode: both send to that server only.
        return await target.execute_command(*command)

    def _scan_failed(self, name: str, error: BaseException) -> None:
        """A server failed during a scan: raise under ``raise``, else skip it (its keys)."""
        if self.router.config.failover == "raise":
            raise error
        if name in self.router.health:
            self.router.failed(name, error)

    async def wipe(self, batches: Mapping[str, Any]) -> dict[str, Any]:
        """Empty each node: FLUSHDB, or only the KEY_PREFIX's keys if one is set."""
        prefix = self.router.config.key_prefix
        result: dict[str, Any] = {}
        for name in batches:
            try:
                if prefix:
                    pattern = f"{glob_escape(prefix)}:*"
                    async for _ in self.scan_delete(pattern, only=name, strict=True):
                        pass
                elif self.cluster:
                    cluster = self.nodes.client(name)
                    await cluster.flushdb(asynchronous=True, target_nodes="primaries")
                else:
                    await self.nodes.client(name).flushdb(asynchronous=True)
                result[name] = True
            except self._errors as exc:
                result[name] = exc
        return result

    async def _scan_one(self, target: Any, match: str, count: int) -> AsyncIterator[list[bytes]]:
        cursor: Any = 0
        while True:
            cursor, keys = await self._on(target, "SCAN", cursor, "MATCH", match, "COUNT", count)
            if keys:
                yield keys
            if int(cursor) == 0:
                return

    async def scan(self, match: str, count: int | None = None) -> list[bytes]:
        """Every key matching *match* on every server, the servers scanned together."""

        async def collect(name: str, target: Any) -> list[bytes]:
            found: list[bytes] = []
            try:
                async for keys in self._scan_one(target, match, count or SCAN_COUNT):
                    found += keys
            except self._errors as exc:
                self._scan_failed(name, exc)
            return found

        targets = await self._targets()
        lists = await asyncio.gather(*(collect(n, t) for n, t in targets.items()))
        return [key for keys in lists for key in keys]

    async def scan_delete(
        self, match: str, *, only: str | None = None, strict: bool = False
    ) -> AsyncIterator[int]:
        """Delete every key matching *match* (on *only*, or every server); yield counts.

        A failing server is skipped under ``miss``/``eject`` unless *strict*.
        """
        targets = await self._targets()
        if only is not None and not self.cluster:
            targets = {only: targets[only]}

        async def clean(name: str, target: Any) -> int:
            try:
                return await clean_one(target)
            except self._errors as exc:
                if strict:
                    raise
                self._scan_failed(name, exc)
                return 0

        async def clean_one(target: Any) -> int:
            deleted = 0
            async for keys in self._scan_one(target, match, SCAN_COUNT):
                if self.cluster:  # one UNLINK per key: a cluster refuses them across slots
                    pipe = self.nodes.client(self.router.names[0]).pipeline()
                    for key in keys:
                        pipe.unlink(key)
                    deleted += sum(await pipe.execute())
                else:
                    deleted += int(await target.unlink(*keys))
            return deleted

        for count in await asyncio.gather(*(clean(n, t) for n, t in targets.items())):
            yield count

    async def aclose(self) -> None:
        """Disconnect the current event loop's connections. Never raises."""
        await self.nodes.aclose()
