"""Part 1: the shop's RingCache over three real Redis nodes: spread, failover, return."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import cast

from django.core.cache import caches
from django.core.management import call_command

from accord.contrib.django.cache import RingCache
from accord.testing import RedisServer
from examples.demo.narrate import bars, countdown, progress, say
from examples.shop import plugin

KEYS = 20_000
BATCH = 1_000


def batched(items: list[str], size: int) -> Iterator[list[str]]:
    # itertools.batched is Python 3.12+; the shop supports 3.10.
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dbsize(nodes: dict[str, RedisServer]) -> dict[str, int]:
    counts = {}
    for name, server in nodes.items():
        reply = server.execute("DBSIZE")  # ":<n>\r\n"
        counts[name] = int(reply[1:].strip())
    return counts


def _read_all(cache: RingCache, keys: list[str]) -> tuple[int, int, float]:
    """(hits, misses, seconds) for reading every key, in get_many batches."""
    hits = 0
    started = time.perf_counter()
    for batch in batched(keys, BATCH):
        hits += len(cache.get_many(batch))
    return hits, len(keys) - hits, time.perf_counter() - started


def run(nodes_list: list[RedisServer], retry_after: float) -> None:
    cache = cast(RingCache, caches["default"])
    nodes = {f"redis-{i + 1} (:{s.port})": s for i, s in enumerate(nodes_list)}
    ports = ", ".join(str(s.port) for s in nodes_list)
    say(f"   Started 3 redis-server processes on ports {ports};")
    say("   the shop's CACHES['default'] is a RingCache over them, with failover='eject'.")
    say(f"   Filling the cache with {KEYS:,} product pages, {BATCH:,} keys per set_many")
    say("   (one pipeline per node per call, sent to all nodes at once):")
    cache.clear()
    keys = [f"product:{i}" for i in range(KEYS)]
    for batch in progress(batched(keys, BATCH), KEYS // BATCH, "set_many"):
        cache.set_many({key: f"<html>page of {key}</html>" for key in batch}, timeout=600)
    say("   Keys per node, as each Redis reports it (DBSIZE):")
    bars(_dbsize(nodes))
    say()
    say("   `manage.py accord_ring --add` tells, as a dry run, what a fourth node would move:")
    out = io.StringIO()
    call_command("accord_ring", "--add", "redis://127.0.0.1:6399/0", stdout=out)
    say("   " + out.getvalue().strip().splitlines()[-1])
    say("   (about 1/4, all of it to the new node: the rest of the cache stays warm.)")

    victim_name, victim = list(nodes.items())[1]
    say()
    say(f"   Killing {victim_name} with SIGKILL: a crashed cache server.")
    victim.kill()
    hits, misses, seconds = _read_all(cache, keys)
    say(f"   Reading all {KEYS:,} keys again: {hits:,} hits, {misses:,} misses, 0 errors")
    say(f"   ({seconds:.2f} s). The dead node's keys read as misses instead of raising;")
    say("   after 3 failures in a row it was ejected from the ring, so its keys now")
    say("   go to the next node of their preference list. The page is rebuilt and cached:")
    lost = next(k for k in keys if cache.get(k) is None)
    page = cache.get_or_set(lost, f"<html>page of {lost}, rebuilt</html>", timeout=600)
    stand_in = cache.get_client(lost).connection_pool.connection_kwargs["port"]
    say(f"   get_or_set({lost!r}) -> {page!r}, stored on the stand-in at :{stand_in}.")
    states = {name: str(stats["state"]) for name, stats in cache.node_stats().items()}
    say(f"   node_stats() states: {', '.join(f'{n}={s}' for n, s in states.items())}")

    say()
    say(f"   Restarting {victim_name} on the same port (empty: it crashed).")
    victim.restart()
    countdown(retry_after + 0.5, "until retry_after has passed and a request may probe it")
    hits, misses, _ = _read_all(cache, keys)
    say("   The next requests probed it; it answered, was flushed (so nothing it held")
    say("   before the outage can be served stale), and took its keys back. The copy")
    say(f"   written to the stand-in was deleted: get({lost!r}) -> {cache.get(lost)!r}.")
    states = {name: str(stats["state"]) for name, stats in cache.node_stats().items()}
    say(f"   node_stats() states: {', '.join(f'{n}={s}' for n, s in states.items())}")
    say(f"   Reading all keys: {hits:,} hits, {misses:,} misses (its keys are cold, not wrong).")
    say("   Keys per node now:")
    bars(_dbsize(nodes))
    events = plugin.snapshot()
    say(
        "   The shop's event-counter plugin saw: "
        f"{events.get('cache node ejected', 0)} ejection, "
        f"{events.get('cache node restored', 0)} readmission."
    )
