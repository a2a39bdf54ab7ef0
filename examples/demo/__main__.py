"""``python -m examples.demo``: the tour, part by part (see the package docstring)."""

from __future__ import annotations

import signal
import sys
import time
from contextlib import ExitStack
from types import FrameType

from examples.demo import services
from examples.demo.narrate import Parts, say

RECOVERY_DELAY = 3.0  # seconds; 60 by default: a demo cannot wait a minute
RETRY_AFTER = 2.0  # seconds a dead cache node stays out; 30 by default


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the ExitStack
    # stops every server and process the tour started.
    raise KeyboardInterrupt


def tour(stack: ExitStack, parts: Parts) -> None:
    say("accord demo: the example shop (examples/shop/) on real servers")
    say("=" * 62)
    say("Starting three Redis cache nodes and one Redis for locks and task results,")
    say("and creating two scratch PostgreSQL databases...")
    found = services.start(stack)
    if found.cache_nodes and found.aux:
        ports = ", ".join(str(s.port) for s in [*found.cache_nodes, found.aux])
        say(f"   redis-server processes on ports {ports}")
    if found.databases:
        say(f"   PostgreSQL: {found.postgres}")
        names = ", ".join(db.name for db in found.databases)
        db = found.databases[0]
        say(f"   PostgreSQL databases {names} on {db.host}:{db.port}")
    if found.broker_url:
        say(f"   Celery broker: {found.broker_name}")
    for name in found.missing:
        say(f"   {name}: NOT AVAILABLE (the parts that need it will say why)")
    services.shop_environment(found, RECOVERY_DELAY, RETRY_AFTER)
    import django

    django.setup()
    from django.db import connections

    stack.callback(connections.close_all)  # before the scratch databases are dropped
    from examples.demo import metrics

    registry = metrics.install()  # before part 1: it counts the whole tour
    if registry is None:
        found.missing["prometheus_client"] = 'not installed: pip install "accord[prometheus]"'

    title = "RingCache: one Django cache over three Redis nodes, with failover"
    if parts.begin(1, title, found.missing, needs=["Redis"]):
        from examples.demo import cache

        cache.run(found.cache_nodes, RETRY_AFTER)

    title = "@singleton_task: a Celery task that never runs twice at once per key"
    if found.broker_url is None and "Redis" not in found.missing:
        found.missing["a Celery broker"] = "neither RabbitMQ nor a Redis the demo starts answered"
    if parts.begin(2, title, found.missing, needs=["Redis", "a Celery broker"]):
        from examples.demo import tasks

        tasks.run(found.broker_name)

    title = "tpc.atomic: one transaction over two databases, and crash recovery"
    if parts.begin(3, title, found.missing, needs=["PostgreSQL"]):
        from examples.demo import orders

        orders.run([db.name for db in found.databases], RECOVERY_DELAY)

    title = "Metrics: what accord.contrib.prometheus counted, and the admin pages"
    if parts.begin(4, title, found.missing, needs=["prometheus_client"]):
        metrics.run(registry)

    parts.begin(5, "Where to look next", found.missing, needs=[])
    say("   docs/getting-started.rst   the two commands, and the shop project explained")
    say("   docs/cache.rst, docs/lock.rst, docs/celery.rst, docs/tpc.rst   one guide each")
    say("   docs/settings.rst, docs/checks.rst   every setting, every system check")
    say("   docs/plugins.rst           writing a plugin, like examples/shop/plugin.py")
    say("   docs/operations.rst        failover, recovery, metrics plugins, admin pages")
    say("   examples/shop/settings.py  the settings this tour ran with")
    say("   Build the docs with `make docs` (HTML in docs/_build/html).")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    # A shell starts background jobs with SIGINT ignored, and Python keeps it so:
    # restore it, so that Ctrl-C or `kill -INT` always stops the tour cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    parts = Parts()
    try:
        with ExitStack() as stack:
            tour(stack, parts)
            say()
            say("Stopping everything the demo started...")
    except KeyboardInterrupt:
        say("\nInterrupted: every server and process the demo started has been stopped,")
        say("and its scratch databases dropped.")
        return 130
    say(parts.summary(time.monotonic() - started))
    return 0 if parts.all_ran else 1


if __name__ == "__main__":
    sys.exit(main())
