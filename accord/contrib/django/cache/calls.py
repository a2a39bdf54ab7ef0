"""Every cache operation as a :class:`~.plan.Call`: the commands per node, and how to read them.

This is the one place where an operation's commands and its reading of the
replies are written; the sync and async executors only send. Keys are full
keys (prefix and version applied); timeouts are backend timeouts (seconds,
``None`` for ever, ``0`` for "expire now").

Failure behaviour: a Redis error reply (e.g. ``INCR`` on a pickled value)
always propagates as ``redis.ResponseError``; a connection error propagates
under ``failover="raise"`` and otherwise becomes a miss (see
:mod:`~accord.contrib.django.cache.router`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from accord.contrib.django.cache.codec import Codec
from accord.contrib.django.cache.connect import connection_errors
from accord.contrib.django.cache.keys import STAND_IN_MARK as _STAND_IN_MARK
from accord.contrib.django.cache.keys import stand_in_key
from accord.contrib.django.cache.plan import Call, Command, Route
from accord.contrib.django.cache.router import Router
from accord.contrib.django.cache.scripts import GUARD_SCRIPT, INCR_SCRIPT
from accord.core.plugins import notify

__all__ = ["Calls", "set_commands"]

_REFUSED = "ACCORDREADMITTED"


def set_commands(
    items: Sequence[tuple[str, Any]], timeout: float | None, *, single: bool
) -> list[Command]:
    """The commands that store *items* (serialized) with *timeout* (one per key if *single*)."""
    if not items:
        return []
    if timeout == 0:
        return [("DEL", key) for key, _ in items] if single else [("DEL", *(k for k, _ in items))]
    if timeout is None:
        if single:
            return [("SET", key, value) for key, value in items]
        return [("MSET", *(part for item in items for part in item))]
    return [("SET", key, value, "EX", int(timeout)) for key, value in items]


class Calls:
    """Builds the :class:`~.plan.Call` of every operation, for either executor."""

    def __init__(self, router: Router, codec: Codec) -> None:
        self.router = router
        self.codec = codec
        self.errors = connection_errors()
        self.single = router.config.cluster  # a cluster takes one key per command
        self.raise_errors = router.config.failover == "raise"

    # ----------------------------------------------------------- bookkeeping

    def _failed(
        self, node: str, exc: BaseException, written: Iterable[str] = (), reads: int = 0
    ) -> None:
        if self.raise_errors:
            notify(
                "accord_node_failed", source=self.router.source, node=node, error=exc, failures=0
            )
            raise exc
        self.router.failed(node, exc, written=written, reads=reads)

    def _problem(self, replies: Any) -> BaseException | None:
        """The connection error in *replies* (a node's slot), if any."""
        if isinstance(replies, BaseException):
            return replies
        for item in replies:
            if isinstance(item, self.errors):
                return item
        return None

    def _guard(self, route: Route, commands: list[Command]) -> Command:
        marker = self.router.marker(route.home)
        args: list[Any] = []
        for command in commands:
            args += [len(command), *command]
        return ("EVAL", GUARD_SCRIPT, 1, marker, route.epoch or "", *args)

    def _unguard(self, route: Route, node: str, reply: Any) -> list[Any] | None:
        """The guarded replies, or None if the stand-in refused (the home was readmitted)."""
        if isinstance(reply, Exception) and str(reply).startswith(_REFUSED):
            self.router.refused(route.home, node, str(reply)[len(_REFUSED) + 1 :])
            return None
        if isinstance(reply, Exception):
            raise reply
        return list(reply)

    # ----------------------------------------------------------- one key

    def one(
        self,
        key: str,
        build: Callable[[str, Route], list[Command]],
        read: Callable[[list[Any]], Any],
        *,
        write: bool,
        missing: Any,
        home: str | None = None,
    ) -> Call:
        """The call for an operation on one key: *build* its commands, *read* their replies.

        *home*: the key's node on the ring, when the caller has looked it up.
        """
        router = self.router
        route = router.route(key, home)
        node = route.node
        if node is None:
            router.skipped(route.home, written=[key] if write else (), reads=int(not write))
            return Call({}, lambda _: missing)
        if route.epoch is not None:
            target = stand_in_key(key, route.home, route.epoch)
            if write and not router.track_copies(route.home, node, [target]):
                router.skipped(route.home, written=[key])
                return Call({}, lambda _: missing)
            commands = [self._guard(route, build(target, route))]
        elif route.purge:
            commands = [("DEL", key), *build(key, route)]
        else:
            commands = build(key, route)
        health = router.health[node]

        def finish(results: dict[str, Any]) -> Any:
            replies = results[node]
            problem = self._problem(replies)
            if problem is not None:
                self._failed(node, problem, written=[key] if write else (), reads=int(not write))
                return missing
            if route.epoch is not None:
                replies = self._unguard(route, node, replies[0])
                if replies is None:
                    return missing
            elif route.purge:
                replies = replies[1:]
                router.purged(node, [key])
            for item in replies:
                if isinstance(item, Exception):
                    raise item
            if not health.ok or health.group:
                router.succeeded(node, [key] if write and route.epoch is None else ())
            return read(replies)

        return Call({node: commands}, finish)

    def get(self, key: str, default: Any, home: str | None = None) -> Call:
        """GET *key*; *home*: its node on the ring, if the caller looked it up already."""
        loads = self.codec.loads

        def read(replies: list[Any]) -> Any:
            value = replies[0]
            return default if value is None else loads(value)

        build = lambda k, r: [("GET", k)]  # noqa: E731
        return self.one(key, build, read, write=False, missing=default, home=home)

    def set(self, key: str, value: Any, timeout: float | None) -> Call:
        data = self.codec.dumps(value)

        def build(target: str, route: Route) -> list[Command]:
            timeout_: float | None = timeout
            if route.epoch is not None and timeout != 0:
                timeout_ = self.router.stand_in_timeout(timeout)
            return set_commands([(target, data)], timeout_, single=True)

        return self.one(key, build, lambda r: None, write=True, missing=None)

    def add(self, key: str, value: Any, timeout: float | None) -> Call:
        data = self.codec.dumps(value)

        def build(target: str, route: Route) -> list[Command]:
            if timeout == 0:  # "added, then expired at once": only whether it was absent
                return [("EXISTS", target)]
            timeout_ = self.router.stand_in_timeout(timeout) if route.epoch else timeout
            if timeout_ is None:
                return [("SET", target, data, "NX")]
            return [("SET", target, data, "NX", "EX", int(timeout_))]

        def read(replies: list[Any]) -> bool:
            return not replies[0] if timeout == 0 else bool(replies[0])

        return self.one(key, build, read, write=True, missing=False)

    def touch(self, key: str, timeout: float | None) -> Call:
        def build(target: str, route: Route) -> list[Command]:
            if route.epoch is not None:  # a stand-in copy never outlives the cap
                capped = self.router.stand_in_timeout(timeout)
                if capped is not None:
                    return [("EXPIRE", target, capped)]
            if timeout is None:
                return [("PERSIST", target)]
            return [("EXPIRE", target, int(timeout))]

        def read(replies: list[Any]) -> bool:
            return bool(replies[0])

        return self.one(key, build, read, write=True, missing=False)

    def simple(self, key: str, name: str, *args: Any, write: bool, missing: Any = False) -> Call:
        """A one-command call (``DEL``, ``EXISTS``, ``TTL``, ``EXPIRE``, ``PERSIST``)."""
        return self.one(
            key, lambda k, r: [(name, k, *args)], lambda r: r[0], write=write, missing=missing
        )

    def incr(self, key: str, delta: int) -> Call:
        def build(target: str, route: Route) -> list[Command]:
            if route.epoch is not None:
                return [("ACCORD.INCR", target, delta)]
            return [("EVAL", INCR_SCRIPT, 1, target, delta)]

        def read(replies: list[Any]) -> int:
            if replies[0] is None:
                raise ValueError(f"Key '{key}' not found.")
            return int(replies[0])

        def missing_key() -> None:
            raise ValueError(f"Key '{key}' not found.")

        call = self.one(key, build, read, write=True, missing=_MISSING)
        finish = call.finish

        def checked(results: dict[str, Any]) -> Any:
            result = finish(results)
            if result is _MISSING:
                missing_key()
            return result

        call.finish = checked
        return call

    # ----------------------------------------------------------- many keys

    def many(
        self,
        keys: Iterable[str],
        build: Callable[[list[str], Route], list[Command]],
        spread: Callable[[list[str], list[Any]], dict[str, Any]],
        *,
        write: bool,
    ) -> tuple[dict[str, list[Command]], Callable[[dict[str, Any]], dict[str, Any]]]:
        """Batches for *keys* grouped by node, and a reader of ``{key: value}`` for served keys.

        *build* gets the keys of one node (stand-in copies' names on a
        stand-in) and their route; *spread* maps that group's replies to its
        keys (given the original keys).
        """
        router = self.router
        groups: dict[tuple[str, str, str | None], list[str]] = {}
        purge: dict[str, list[str]] = {}
        if router.all_ok:
            if router.ring is None:
                groups[(router.names[0], router.names[0], None)] = list(keys)
            else:
                get_node = router.ring.get_node
                for key in keys:
                    node = get_node(key)
                    groups.setdefault((node, node, None), []).append(key)
        else:
            for key in keys:
                route = router.route(key)
                if route.node is None:
                    router.skipped(route.home, written=[key] if write else (), reads=int(not write))
                    continue
                groups.setdefault((route.node, route.home, route.epoch), []).append(key)
                if route.purge:
                    purge.setdefault(route.node, []).append(key)
        batches: dict[str, list[Command]] = {}
        # node, first command, number of commands, keys, route (purge=True: pending deletes)
        layout: list[tuple[str, int, int, list[str], Route]] = []
        for node, members in purge.items():
            commands = batches.setdefault(node, [])
            deletes = [("DEL", k) for k in members] if self.single else [("DEL", *members)]
            layout.append((node, 0, len(deletes), members, Route(node, node, None, True)))
            commands += deletes
        for (node, home, epoch), members in groups.items():
            commands = batches.setdefault(node, [])
            route = Route(node, home, epoch, False)
            start = len(commands)
            if epoch is not None:
                targets = [stand_in_key(k, home, epoch) for k in members]
                if write and not router.track_copies(home, node, targets):
                    router.skipped(home, written=members)
                    continue
                commands.append(self._guard(route, build(targets, route)))
            else:
                commands += build(members, route)
            layout.append((node, start, len(commands) - start, members, route))

        def read(results: dict[str, Any]) -> dict[str, Any]:
            served: dict[str, Any] = {}
            failed: set[str] = set()
            for node in batches:
                problem = self._problem(results[node])
                if problem is not None:
                    failed.add(node)
                    mine = [k for (n, _, e), ks in groups.items() if n == node for k in ks]
                    self._failed(
                        node,
                        problem,
                        written=mine if write else (),
                        reads=0 if write else len(mine),
                    )
            for node, start, count, members, route in layout:
                if node in failed:
                    continue
                part = results[node][start : start + count]
                if route.purge:
                    router.purged(node, members)
                    continue
                if route.epoch is not None:
                    unguarded = self._unguard(route, node, part[0])
                    if unguarded is None:
                        continue
                    part = unguarded
                for item in part:
                    if isinstance(item, Exception):
                        raise item
                served.update(spread(members, part))
            for node in batches:
                health = router.health[node]
                if node not in failed and (not health.ok or health.group):
                    mine = [
                        k for (n, _, e), ks in groups.items() if n == node and e is None for k in ks
                    ]
                    router.succeeded(node, mine if write else ())
            return served

        return batches, read

    def get_many(self, keys: Iterable[str]) -> Call:
        loads = self.codec.loads
        single = self.single

        def build(members: list[str], route: Route) -> list[Command]:
            if single and route.epoch is None:
                return [("GET", k) for k in members]
            return [("MGET", *members)]

        def spread(members: list[str], replies: list[Any]) -> dict[str, Any]:
            # One MGET gives a list for all keys; per-key GETs (a cluster) a reply each.
            values = replies[0] if len(replies) == 1 and isinstance(replies[0], list) else replies
            return {k: loads(v) for k, v in zip(members, values, strict=True) if v is not None}

        batches, read = self.many(keys, build, spread, write=False)
        return Call(batches, read)

    def set_many(self, data: Mapping[str, Any], timeout: float | None) -> Call:
        dumps = self.codec.dumps
        values = {key: dumps(value) for key, value in data.items()}

        def build(members: list[str], route: Route) -> list[Command]:
            if route.epoch is not None:
                originals = [k.split(_STAND_IN_MARK, 1)[0] for k in members]
                items = [(t, values[k]) for t, k in zip(members, originals, strict=True)]
                capped = self.router.stand_in_timeout(timeout) if timeout != 0 else 0
                return set_commands(items, capped, single=True)
            items = [(k, values[k]) for k in members]
            return set_commands(items, timeout, single=self.single or timeout is not None)

        batches, read = self.many(values, build, lambda ks, r: dict.fromkeys(ks), write=True)

        def finish(results: dict[str, Any]) -> list[str]:
            served = read(results)
            return [key for key in values if key not in served]

        return Call(batches, finish)

    def delete_many(self, keys: Iterable[str]) -> Call:
        def build(members: list[str], route: Route) -> list[Command]:
            if self.single and route.epoch is None:
                return [("DEL", k) for k in members]
            return [("DEL", *members)]

        counts: list[int] = []

        def spread(members: list[str], replies: list[Any]) -> dict[str, Any]:
            counts.append(sum(int(r) for r in replies))
            return dict.fromkeys(members)

        batches, read = self.many(keys, build, spread, write=True)

        def finish(results: dict[str, Any]) -> int:
            read(results)
            return sum(counts)

        return Call(batches, finish)


_MISSING = object()
