"""The native async half of RingCacheClient, on ``redis.asyncio``.

Same semantics and failure behaviour as the sync methods in
:mod:`accord.contrib.django.cache.client`; multi-key calls send one
pipeline per node and await all nodes together (``asyncio.gather``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from accord.contrib.django.cache.nodes import INCR_SCRIPT, AsyncNodes, Command
from accord.contrib.django.cache.routing import Repair, Router, split_misses

if TYPE_CHECKING:
    from accord.contrib.django.cache.config import CacheConfig

__all__ = ["AsyncClientMixin"]

_INCR_SHA = hashlib.sha1(INCR_SCRIPT.encode()).hexdigest()


class AsyncClientMixin:
    """The ``a*`` methods of :class:`~.client.RingCacheClient`."""

    config: CacheConfig
    _router: Router
    _anodes: AsyncNodes
    _serializer: Any
    _errors: tuple[type[BaseException], ...]
    _no_script: type[BaseException]

    if TYPE_CHECKING:

        def _failed(
            self, node: str, exc: BaseException, written: Iterable[str] = (), reads: int = 0
        ) -> None: ...

        def _write_timeout(self, node: str, home: str, keys: list[str], timeout: Any) -> Any: ...

    async def _atarget(self, key: str) -> tuple[str | None, str]:
        router = self._router
        home = router.ring.get_node(key)
        if router.health[home].ok:
            return home, home
        node, home = router.place(key)
        if node != home and await self._arepair(home):
            node = home
        if node is not None and not router.health[node].ok and not await self._arepair(node):
            return None, home
        return node, home

    async def _arepair(self, name: str) -> bool:
        repair = self._router.repair_due(name)
        if repair is None:
            health = self._router.health[name]
            return not health.out and not health.pending and not health.flush_needed
        try:
            await self._arun_repair(repair)
        except self._errors as exc:
            self._router.repair_failed(repair, exc)
            return False
        return True

    async def _arun_repair(self, repair: Repair) -> None:
        clients = self._anodes.clients()
        client = clients[repair.node]
        if repair.flush:
            await client.flushdb(asynchronous=True)
        if repair.delete:
            await client.delete(*repair.delete)
        targets = [n for n, keys in repair.fallback.items() if keys]
        targets = [n for n in targets if not self._router.health[n].out]
        results = await asyncio.gather(
            *(clients[n].delete(*repair.fallback[n]) for n in targets), return_exceptions=True
        )
        leftovers = {
            n: repair.fallback[n]
            for n, r in zip(targets, results, strict=True)
            if isinstance(r, BaseException)
        }
        self._router.repaired(repair, leftovers)

    async def _asimple(self, key: str, command: Command, *, write: bool, missing: Any) -> Any:
        node, home = await self._atarget(key)
        if node is None:
            self._router.skipped(home, written=int(write), reads=int(not write))
            return missing
        try:
            reply = await self._anodes.clients()[node].execute_command(*command)
        except self._errors as exc:
            self._failed(node, exc, written=[key] if write else (), reads=int(not write))
            return missing
        if not self._router.health[node].ok:
            self._router.succeeded(node)
        return reply

    async def _awrite(self, key: str, value: Any, timeout: Any, *, nx: bool) -> Any:
        node, home = await self._atarget(key)
        if node is None:
            self._router.skipped(home, written=1)
            return None
        timeout = self._write_timeout(node, home, [key], timeout)
        client = self._anodes.clients()[node]
        try:
            if timeout == 0 and not nx:
                reply = await client.delete(key)
            elif timeout == 0:
                reply = await client.set(key, value, nx=True)
                if reply:
                    await client.delete(key)
            else:
                reply = await client.set(key, value, ex=timeout, nx=nx)
        except self._errors as exc:
            self._failed(node, exc, written=[key])
            return None
        if not self._router.health[node].ok:
            self._router.succeeded(node)
        return reply

    async def aadd(self, key: str, value: Any, timeout: float | None) -> bool:
        """Async :meth:`add`."""
        return bool(await self._awrite(key, self._serializer.dumps(value), timeout, nx=True))

    async def aget(self, key: str, default: Any) -> Any:
        """Async :meth:`get`."""
        value = await self._asimple(key, ("GET", key), write=False, missing=None)
        return default if value is None else self._serializer.loads(value)

    async def aset(self, key: str, value: Any, timeout: float | None) -> None:
        """Async :meth:`set`."""
        await self._awrite(key, self._serializer.dumps(value), timeout, nx=False)

    async def atouch(self, key: str, timeout: float | None) -> bool:
        """Async :meth:`touch`."""
        command = ("PERSIST", key) if timeout is None else ("EXPIRE", key, int(timeout))
        return bool(await self._asimple(key, command, write=True, missing=False))

    async def adelete(self, key: str) -> bool:
        """Async :meth:`delete`."""
        return bool(await self._asimple(key, ("DEL", key), write=True, missing=False))

    async def ahas_key(self, key: str) -> bool:
        """Async :meth:`has_key`."""
        return bool(await self._asimple(key, ("EXISTS", key), write=False, missing=False))

    async def aincr(self, key: str, delta: int) -> int:
        """Async :meth:`incr`; raises ``ValueError`` when the key is missing."""
        node, home = await self._atarget(key)
        reply = None
        if node is None:
            self._router.skipped(home, written=1)
        else:
            client = self._anodes.clients()[node]
            try:
                try:
                    reply = await client.evalsha(_INCR_SHA, 1, key, delta)
                except self._no_script:  # a restarted node has forgotten the script
                    reply = await client.eval(INCR_SCRIPT, 1, key, delta)
            except self._errors as exc:
                self._failed(node, exc, written=[key])
            else:
                self._router.succeeded(node)
        if reply is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(reply)

    async def _aplan(self, keys: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
        if self._router.healthy():
            return self._router.group(keys), []
        slow: dict[str | None, list[str]] = {}
        for key in keys:
            slow.setdefault((await self._atarget(key))[0], []).append(key)
        return split_misses(slow)

    async def _agather(
        self, batches: Mapping[str, list[Command]], written: Mapping[str, list[str]]
    ) -> tuple[dict[str, list[Any]], list[str]]:
        clients = self._anodes.clients()
        names = [name for name, commands in batches.items() if commands]

        async def run(name: str) -> list[Any]:
            pipe = clients[name].pipeline(transaction=False)
            for command in batches[name]:
                pipe.execute_command(*command)
            result: list[Any] = await pipe.execute(raise_on_error=False)
            return result

        results = await asyncio.gather(*(run(n) for n in names), return_exceptions=True)
        replies: dict[str, list[Any]] = {}
        failed: list[str] = []
        for name, reply in zip(names, results, strict=True):
            if isinstance(reply, self._errors):
                failed.append(name)
                self._failed(name, reply, written=written.get(name, ()))
                continue
            if isinstance(reply, BaseException):
                raise reply
            for item in reply:
                if isinstance(item, Exception):
                    raise item
            replies[name] = reply
            self._router.succeeded(name)
        return replies, failed

    async def aget_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Async :meth:`get_many`."""
        groups, misses = await self._aplan(keys)
        for key in misses:
            self._router.skipped(self._router.ring.get_node(key), reads=1)
        replies, _ = await self._agather({n: [("MGET", *ks)] for n, ks in groups.items()}, {})
        loads = self._serializer.loads
        return {
            key: loads(value)
            for name, (values,) in replies.items()
            for key, value in zip(groups[name], values, strict=True)
            if value is not None
        }

    async def aset_many(self, data: Mapping[str, Any], timeout: float | None) -> list[str]:
        """Async :meth:`set_many`."""
        from accord.contrib.django.cache.client import set_commands

        dumps = self._serializer.dumps
        values = {key: dumps(value) for key, value in data.items()}
        groups, not_stored = await self._aplan(values)
        for key in not_stored:
            self._router.skipped(self._router.ring.get_node(key), written=1)
        batches: dict[str, list[Command]] = {}
        for node, keys in groups.items():
            by_timeout: dict[Any, list[str]] = {}
            for key in keys:
                home = self._router.ring.get_node(key)
                effective = self._write_timeout(node, home, [key], timeout)
                by_timeout.setdefault(effective, []).append(key)
            batches[node] = [
                command
                for key_timeout, members in by_timeout.items()
                for command in set_commands(((k, values[k]) for k in members), key_timeout)
            ]
        _, failed = await self._agather(batches, groups)
        return not_stored + [key for node in failed for key in groups[node]]

    async def adelete_many(self, keys: Iterable[str]) -> int:
        """Async :meth:`delete_many`."""
        groups, misses = await self._aplan(keys)
        for key in misses:
            self._router.skipped(self._router.ring.get_node(key), written=1)
        replies, _ = await self._agather({n: [("DEL", *ks)] for n, ks in groups.items()}, groups)
        return sum(int(reply[0]) for reply in replies.values())

    async def aclear(self) -> bool:
        """Async :meth:`clear`."""
        batches = {}
        for name, health in self._router.health.items():
            if health.out:
                self._router.mark_flush_needed(name)
            else:
                batches[name] = [("FLUSHDB", "ASYNC")]
        _, failed = await self._agather(batches, {})
        for name in failed:
            self._router.mark_flush_needed(name)
        return not failed

    async def aclose(self) -> None:
        """Disconnect the current event loop's connections (they reopen on next use)."""
        await self._anodes.aclose()
