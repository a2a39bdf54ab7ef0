"""A guided tour of accord on real servers: ``make demo``.

It starts its own Redis servers on free loopback ports, narrates what it
does, and stops everything it started, also on Ctrl-C. Parts whose service
is missing say which one and how to get it, and are skipped.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from accord.core.errors import ServiceUnavailable
from accord.core.plugins import get_plugin_manager
from accord.core.ring import HashRing
from accord.testing import RedisServer

KEYS = 20_000
BAR = 40


def say(text: str = "") -> None:
    print(text, flush=True)


def bars(counts: dict[str, int]) -> None:
    total = sum(counts.values()) or 1
    width = max(map(len, counts))
    for name, count in counts.items():
        share = count / total
        say(f"  {name:<{width}}  {'#' * round(share * BAR):<{BAR}}  {count:6,d} keys ({share:.1%})")


@contextmanager
def redis_servers(count: int) -> Iterator[list[RedisServer]]:
    with ExitStack() as stack:
        servers = []
        for _ in range(count):
            server = stack.enter_context(RedisServer())
            server.start()
            servers.append(server)
        yield servers


def ring_tour() -> None:
    import redis

    say("1. The consistent hash ring, on three real Redis servers")
    with redis_servers(4) as servers:
        nodes = {f"redis-{i + 1}": s for i, s in enumerate(servers)}
        clients = {name: redis.Redis.from_url(s.url) for name, s in nodes.items()}
        names = list(nodes)[:3]
        ring = HashRing(names)
        ports = ", ".join(f"{name} on port {s.port}" for name, s in nodes.items())
        say(f"   Started {len(servers)} redis-server processes ({ports});")
        say("   the ring holds the first three, the fourth waits in reserve.")
        say(f"   Writing {KEYS:,} keys; the ring picks each key's server.")
        keys = [f"user:{i}" for i in range(KEYS)]
        started = time.perf_counter()
        pipes = {name: clients[name].pipeline(transaction=False) for name in names}
        for key in keys:
            pipes[ring.get_node(key)].set(key, "x")
        for pipe in pipes.values():
            pipe.execute()
        elapsed = time.perf_counter() - started
        say(f"   Done in {elapsed:.2f} s. Keys per server (DBSIZE, asked of each server):")
        bars({name: int(clients[name].dbsize()) for name in names})

        say()
        say("   Adding a fourth server. With consistent hashing only about 1/4 of the")
        say("   keys change owner, and every one of them moves to the new server")
        say("   (counted by asking the ring):")
        before = {key: ring.get_node(key) for key in keys}
        ring.add_node("redis-4")
        moved = Counter(ring.get_node(k) for k in keys if ring.get_node(k) != before[k])
        say(
            f"   moved {sum(moved.values()):,} of {KEYS:,} keys "
            f"({sum(moved.values()) / KEYS:.1%}; ideal 25.0%), to: {dict(moved)}"
        )
        bars({name: sum(1 for k in keys if ring.get_node(k) == name) for name in nodes})

        sample = random.Random(7).sample(keys, 3)
        say()
        say("   Each key has a preference list, for replicas and failover:")
        for key in sample:
            say(f"     {key:<12} -> {' then '.join(ring.get_nodes(key, 3))}")


def plugins_tour() -> None:
    say()
    say("2. Plugins: accord's own features are plugins too")
    for name, _ in get_plugin_manager().list_name_plugin():
        say(f"   - {name}")


def main() -> int:
    say("accord demo: coordination primitives on real servers\n")
    try:
        ring_tour()
    except ServiceUnavailable as exc:
        say(f"   skipped: {exc}")
    except ImportError as exc:
        say(f"   skipped: {exc}. Run 'make demo', which installs everything.")
    plugins_tour()
    say()
    say("3. Coming next in this tour: the RingCache Django backend with failover,")
    say("   the distributed lock and @singleton_task, and two-phase commit.")
    say("Where to look next: README.md, docs/ring.rst, docs/plugins.rst, docs/hooks.rst.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("\ninterrupted; every server the demo started has been stopped.")
        sys.exit(130)
