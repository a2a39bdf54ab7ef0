"""The servers the tour needs: started here (Redis, the Celery worker) or found (PostgreSQL,
RabbitMQ), each stopped by the ``ExitStack`` that started it, also on Ctrl-C.

Environment (defaults in brackets):

- ``ACCORD_DEMO_POSTGRES_URL`` [``$ACCORD_TEST_POSTGRES_URL``, else
  ``postgresql://postgres@127.0.0.1:5432/postgres``]: a PostgreSQL superuser
  URL; the tour creates two scratch databases there and drops them at the end.
- ``ACCORD_DEMO_AMQP_URL`` [``$ACCORD_TEST_AMQP_URL``, else
  ``amqp://guest:guest@127.0.0.1:5672//``]: RabbitMQ for Celery; when it does
  not answer, the tour uses a Redis it starts as the broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from accord.core.errors import ServiceUnavailable
from accord.testing import PostgresDatabases, RedisServer, ScratchDatabase, check_amqp

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_DEFAULT = "amqp://guest:guest@127.0.0.1:5672//"


@dataclass
class Services:
    """What is running; ``missing`` maps a service to why it is not (and how to get it)."""

    cache_nodes: list[RedisServer] = field(default_factory=list)
    aux: RedisServer | None = None  # singleton locks, task results, maybe the broker
    databases: list[ScratchDatabase] = field(default_factory=list)
    broker_url: str | None = None
    broker_name: str = ""
    missing: dict[str, str] = field(default_factory=dict)


def _redis(stack: ExitStack) -> RedisServer:
    server = stack.enter_context(RedisServer())
    server.start()
    return server


def start(stack: ExitStack) -> Services:
    """Start or find every service; what cannot be had goes to ``missing``."""
    found = Services()
    try:
        found.cache_nodes = [_redis(stack) for _ in range(3)]
        found.aux = _redis(stack)
    except ServiceUnavailable as exc:
        found.missing["Redis"] = str(exc)
    pg_url = (
        os.environ.get("ACCORD_DEMO_POSTGRES_URL")
        or os.environ.get("ACCORD_TEST_POSTGRES_URL")
        or POSTGRES_DEFAULT
    )
    databases = PostgresDatabases(2, url=pg_url, prefix="accord_demo")
    stack.callback(databases.drop)  # registered first, so it also runs if create() half-failed
    try:
        found.databases = databases.create()
    except ServiceUnavailable as exc:
        found.missing["PostgreSQL"] = (
            f"{exc} (the tour reads ACCORD_DEMO_POSTGRES_URL, default {POSTGRES_DEFAULT}; "
            "Debian/Ubuntu: apt-get install postgresql)"
        )
    amqp_url = (
        os.environ.get("ACCORD_DEMO_AMQP_URL")
        or os.environ.get("ACCORD_TEST_AMQP_URL")
        or AMQP_DEFAULT
    )
    try:
        found.broker_url, found.broker_name = check_amqp(amqp_url, timeout=2.0), "RabbitMQ"
    except ServiceUnavailable:
        if found.aux is not None:  # no RabbitMQ: a Redis the tour started will do
            found.broker_url, found.broker_name = f"{found.aux.url}/3", "Redis"
    return found


def shop_environment(found: Services, recovery_delay: float, retry_after: float) -> None:
    """Point the shop's settings (``SHOP_*``, see examples/shop/settings.py) at *found*.

    Set in ``os.environ`` so that the processes the tour starts (the Celery
    worker, the coordinator it kills) see the same servers.
    """
    env = {
        "DJANGO_SETTINGS_MODULE": "examples.shop.settings",
        "SHOP_CACHE_RETRY_AFTER": str(retry_after),
        "SHOP_RECOVERY_DELAY": str(recovery_delay),
    }
    if found.cache_nodes:
        env["SHOP_CACHE_NODES"] = ";".join(f"{s.url}/0" for s in found.cache_nodes)
    if found.aux is not None:
        env["SHOP_LOCK_URL"] = f"{found.aux.url}/1"
        env["SHOP_RESULT_BACKEND"] = f"{found.aux.url}/2"
    if found.broker_url:
        env["SHOP_BROKER_URL"] = found.broker_url
    if found.databases:
        env["SHOP_ORDERS_DB"], env["SHOP_LEDGER_DB"] = (db.url for db in found.databases)
    os.environ.update(env)


@contextmanager
def celery_worker(concurrency: int) -> Iterator[subprocess.Popen[bytes]]:
    """A real prefork worker of the shop's Celery app, in its own process group.

    Its own session keeps Ctrl-C in the terminal from reaching it half-way:
    the tour stops it (SIGTERM, then SIGKILL) when the block ends, however
    it ends. The worker's log is shown if it dies early.
    """
    log_dir = Path(tempfile.mkdtemp(prefix="accord-demo-worker-"))
    log_path = log_dir / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "examples.shop.celery_app", "worker",
                "--pool", "prefork", "--concurrency", str(concurrency),
                "--loglevel", "WARNING", "--hostname", f"demo-{os.getpid()}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        _stop_group(proc)
        if proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
            print(log_path.read_text()[-2000:], file=sys.stderr)
        log_path.unlink(missing_ok=True)
        log_dir.rmdir()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(proc.pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
