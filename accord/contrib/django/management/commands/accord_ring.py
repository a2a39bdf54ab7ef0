"""``manage.py accord_ring [alias] [--add NODE [--weight W] | --remove NODE]``.

Shows each node of a RingCache: kind, weight, predicted share of keys, live
key count, memory, health. With ``--add``/``--remove`` it also prints the
share of keys that change would move: a dry run, computed on a new ring, so
nothing is changed and no ``accord_ring_changed`` hook fires. A Redis
Cluster shows its masters and their share of slots instead.

Failure behaviour: an alias that is not a RingCache, a node name not in the
ring, or ``--add`` on a cluster is a ``CommandError`` naming the choices; an
unreachable node is shown as ``down`` with the error type, never a
traceback. No password is ever printed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.contrib.django.cache import RingCache
from accord.contrib.django.cache.topology import Topology
from accord.core.urls import redact

_SAMPLE = 20_000


class Command(BaseCommand):
    """Show a RingCache's nodes, or what adding or removing one would move."""

    help = "Show the nodes of a RingCache, or the share of keys a node change would move."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("alias", nargs="?", default="default", help="the CACHES alias")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--add", metavar="NODE", help="a node (URL or name) to add: dry run")
        group.add_argument("--remove", metavar="NODE", help="a node to remove: dry run")
        parser.add_argument("--weight", type=float, default=1.0, help="weight for --add")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["alias"]
        try:
            cache = caches[alias]
        except Exception as exc:
            raise CommandError(f"no cache {alias!r}: {redact(str(exc))}") from exc
        if not isinstance(cache, RingCache):
            raise CommandError(
                f"CACHES[{alias!r}] is a {type(cache).__name__}, not a RingCache; "
                "accord_ring only describes RingCache aliases."
            )
        topology = cache.topology()
        if topology.cluster:
            self._show_cluster(topology)
            if options["add"] or options["remove"]:
                raise CommandError(
                    "a Redis Cluster places keys by slot, not by a ring: reshard it with "
                    "'redis-cli --cluster reshard' instead of --add/--remove."
                )
            return
        self._show_nodes(topology)
        if options["add"] or options["remove"]:
            self._show_move(topology, options["add"], options["remove"], options["weight"])

    def _table(self, rows: Sequence[tuple[str, ...]]) -> None:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))

    def _show_nodes(self, topology: Topology) -> None:
        assert topology.ring is not None
        shares = topology.ring.distribution()
        health = topology.health()
        rows = [("node", "weight", "share", "keys", "memory", "health")]
        for node in topology.nodes:
            try:
                client = topology.client(node.name)
                keys, memory = str(client.dbsize()), client.info("memory")["used_memory_human"]
                state = str(health[node.name]["state"])
            except Exception as exc:  # any failure is shown, not raised
                keys, memory, state = "-", "-", f"down ({type(exc).__name__})"
            rows.append(
                (node.name, f"{node.weight:g}", f"{shares[node.name]:.1%}", keys, memory, state)
            )
        self._table(rows)

    def _show_cluster(self, topology: Topology) -> None:
        (node,) = topology.nodes
        rows = [("master", "slots", "keys", "memory", "health")]
        try:
            cluster = topology.client(node.name)
            slots = cluster.cluster_slots()
            owned: dict[str, int] = {}
            for (start, end), info in slots.items():
                primary = f"{info['primary'][0]}:{info['primary'][1]}"
                owned[primary] = owned.get(primary, 0) + end - start + 1
            for primary in cluster.get_primaries():
                redis_client = cluster.get_redis_connection(primary)
                rows.append(
                    (
                        primary.name,
                        str(owned.get(primary.name, 0)),
                        str(redis_client.dbsize()),
                        redis_client.info("memory")["used_memory_human"],
                        str(topology.health()[node.name]["state"]),
                    )
                )
        except Exception as exc:  # any failure is shown, not raised
            rows.append((node.name, "-", "-", "-", f"down ({type(exc).__name__})"))
        self._table(rows)

    def _show_move(
        self, topology: Topology, add: str | None, remove: str | None, weight: float
    ) -> None:
        assert topology.ring is not None
        try:
            changed = (
                topology.with_node(redact(add), weight)
                if add
                else topology.without_node(str(remove))
            )
        except (ValueError, TypeError) as exc:
            raise CommandError(str(exc)) from exc
        ring = topology.ring
        rng = random.Random(0)
        sample = [f"sample:{rng.getrandbits(64):x}" for _ in range(_SAMPLE)]
        moved = sum(ring.get_node(k) != changed.get_node(k) for k in sample) / _SAMPLE
        action = f"adding {redact(add)!r}" if add else f"removing {remove!r}"
        self.stdout.write(
            f"\n{action} would move about {moved:.1%} of keys "
            f"(estimated on {_SAMPLE} sample keys; dry run, nothing changed)"
        )
