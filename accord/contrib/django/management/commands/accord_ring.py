"""``manage.py accord_ring [alias] [--add NODE [--weight W] | --remove NODE]``.

Shows each node of a RingCache: weight, predicted share of keys, live key
count, memory, health. With ``--add``/``--remove`` it also prints the share
of keys that change would move (a dry run: nothing is changed).

Failure behaviour: an alias that is not a RingCache, or a node name not in
the ring, is a ``CommandError`` naming the choices; an unreachable node is
shown as ``down`` with the error type, never a traceback.
"""

from __future__ import annotations

import random
from typing import Any

from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.contrib.django.cache import RingCache
from accord.contrib.django.cache.config import redact
from accord.core.ring import HashRing

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
            raise CommandError(f"no cache {alias!r}: {exc}") from exc
        if not isinstance(cache, RingCache):
            raise CommandError(
                f"CACHES[{alias!r}] is a {type(cache).__name__}, not a RingCache; "
                "accord_ring only describes RingCache aliases."
            )
        ring = cache._cache.router.ring
        self._show_nodes(cache, ring)
        if options["add"] or options["remove"]:
            self._show_move(ring, options["add"], options["remove"], options["weight"])

    def _show_nodes(self, cache: RingCache, ring: HashRing) -> None:
        shares = ring.distribution()
        stats = cache.node_stats()
        rows = [("node", "weight", "share", "keys", "memory", "health")]
        for name, weight in ring.nodes.items():
            client = cache._cache._nodes[name].client
            try:
                keys, memory = str(client.dbsize()), client.info("memory")["used_memory_human"]
                health = str(stats[name]["state"])
            except Exception as exc:  # any failure is shown, not raised
                keys, memory, health = "-", "-", f"down ({type(exc).__name__})"
            rows.append((name, f"{weight:g}", f"{shares[name]:.1%}", keys, memory, health))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))

    def _show_move(
        self, ring: HashRing, add: str | None, remove: str | None, weight: float
    ) -> None:
        changed = ring.copy()
        try:
            if add:
                changed.add_node(redact(add), weight)
            elif remove:
                changed.remove_node(remove)
        except (ValueError, TypeError) as exc:
            raise CommandError(str(exc)) from exc
        rng = random.Random(0)
        sample = [f"sample:{rng.getrandbits(64):x}" for _ in range(_SAMPLE)]
        moved = sum(ring.get_node(k) != changed.get_node(k) for k in sample) / _SAMPLE
        action = f"adding {redact(add)!r}" if add else f"removing {remove!r}"
        self.stdout.write(
            f"\n{action} would move about {moved:.1%} of keys "
            f"(estimated on {_SAMPLE} sample keys; dry run, nothing changed)"
        )
