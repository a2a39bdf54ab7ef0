"""The servers the tour needs: started here (Redis, the Celery worker, a private PostgreSQL when
needed) or found (PostgreSQL, RabbitMQ), each stopped by the ``ExitStack`` that started it,
also on Ctrl-C.

Environment (defaults in brackets):

- ``ACCORD_DEMO_POSTGRES_URL`` [unset]: a PostgreSQL superuser URL, used as
  it is. Unset, the tour uses the server at 127.0.0.1:5432 if it can prepare
  transactions, and otherwise starts a private cluster from the installed
  PostgreSQL binaries on a free port (``initdb`` into a temporary directory,
  removed at the end). It never changes a server's configuration. Either way
  it creates two scratch databases and drops them at the end.
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

from accord.testing import PostgresDatabases, RedisServer, ScratchDatabase, check_amqp
from accord.testing.brokers import delete_queue
from accord.testing.errors import ServiceUnavailable
from accord.testing.postgres import close_shared_postgres, started_shared_postgres

ROOT = Path(__file__).resolve().parents[2]
AMQP_DEFAULT = "amqp://guest:guest@127.0.0.1:5672//"
TASK_QUEUE = f"accord-demo-{os.getpid()}"  # the shop's tasks go here; deleted at the end


@dataclass
class Services:
    """What is running; ``missing`` maps a service to why it is not (and how to get it)."""

    cache_nodes: list[RedisServer] = field(default_factory=list)
    aux: RedisServer | None = None  # singleton locks, task results, maybe the broker
    databases: list[ScratchDatabase] = field(default_factory=list)
    postgres: str = ""  # which PostgreSQL server, in words
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
    pg_url = os.environ.get("ACCORD_DEMO_POSTGRES_URL") or None
    stack.callback(close_shared_postgres)  # the private cluster, if one was started
    databases = PostgresDatabases(2, url=pg_url, prefix="accord_demo")
    stack.callback(databases.drop)  # registered after, so it runs before the cluster stops
    try:
        found.databases = databases.create()
    except ServiceUnavailable as exc:
        found.missing["PostgreSQL"] = (
            f"{exc.reason} (the tour uses ACCORD_DEMO_POSTGRES_URL when set; otherwise the "
            "server at 127.0.0.1:5432 if it can prepare transactions, else a private cluster "
            "it starts from the installed PostgreSQL binaries)"
        )
    else:
        db = found.databases[0]
        if started_shared_postgres() is not None:
            found.postgres = (
                f"a private cluster on port {db.port}, removed at the end: the server at "
                "127.0.0.1:5432 cannot prepare transactions (max_prepared_transactions = 0, "
                "the default) or is not running, and the tour never reconfigures it"
            )
        else:
            found.postgres = f"the server at {db.host}:{db.port}, which can prepare transactions"
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
    if found.broker_url is not None:
        stack.callback(delete_queue, found.broker_url, TASK_QUEUE)  # Celery made it durable
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
        "SHOP_TASK_QUEUE": TASK_QUEUE,
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
