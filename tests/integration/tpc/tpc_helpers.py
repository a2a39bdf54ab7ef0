"""Helpers for the two-phase-commit tests: Django runs in worker processes (worker.py).

The test process itself never configures Django (other suites do, in their
own processes); it looks at the databases with the drivers directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from accord.testing.databases import ScratchDatabase

WORKER = Path(__file__).resolve().parent / "worker.py"


class Worker:
    """Runs scenarios in Django processes configured with ``databases`` and ``tpc``."""

    def __init__(self, databases: dict[str, Any], tpc: dict[str, Any] | None) -> None:
        """*tpc* is ``ACCORD["TPC"]``; ``None`` leaves it out of the settings."""
        self.databases = databases
        self.tpc = tpc
        self.needs_setup = False

    def env(self, **config: Any) -> dict[str, str]:
        payload = {"databases": self.databases, "tpc": self.tpc, "setup": self.needs_setup}
        payload.update(config)
        self.needs_setup = False  # the first process creates the tables
        return {**os.environ, "ACCORD_TPC_TEST": json.dumps(payload)}

    def start(
        self, scenario: str, /, config: dict[str, Any] | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(WORKER), scenario, json.dumps(kwargs)],
            env=self.env(**(config or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, scenario: str, /, config: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Run a scenario to its end; its result, or an AssertionError with its stderr."""
        proc = self.start(scenario, config, **kwargs)
        out, err = proc.communicate(timeout=60)
        results = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert proc.returncode == 0, f"worker {scenario} failed:\n{err}"
        assert results, f"worker {scenario} printed no result:\n{err}"
        return json.loads(results[-1][len("RESULT ") :])

    def killed(self, scenario: str, /, crash_at: str, **kwargs: Any) -> None:
        """Run a scenario that must die by SIGKILL at coordinator step *crash_at*."""
        proc = self.start(scenario, {"crash_at": crash_at}, **kwargs)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == -9, (
            f"expected SIGKILL at {crash_at}, got {proc.returncode}:\n{err}"
        )

    def with_tpc(self, **tpc: Any) -> Worker:
        other = Worker(self.databases, {**self.tpc, **tpc})
        other.needs_setup, self.needs_setup = self.needs_setup, False
        return other


def deployment(pg: ScratchDatabase, maria: ScratchDatabase, **tpc: Any) -> Worker:
    """A deployment of its own: "default" (PostgreSQL, holding its decision log) and "maria"."""
    worker = Worker(
        {"default": pg.django_settings(), "maria": maria.django_settings()},
        {"RECOVERY_DELAY": 0, **tpc},
    )
    worker.needs_setup = True
    return worker


class DriverSession:
    """The core's SQLConnection over a psycopg or MySQLdb connection."""

    def __init__(self, raw: Any, vendor: str) -> None:
        self.raw, self.vendor, self.alias = raw, vendor, vendor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.raw.cursor()
        cursor.execute(sql, tuple(params) or None)
        return list(cursor.fetchall()) if cursor.description else []

    def execute_outside_transaction(self, sql: str) -> None:
        self.execute(sql)

    def in_transaction(self) -> bool:
        return bool(self.raw.info.transaction_status.name == "INTRANS")

    def wrote(self) -> bool:
        return True

    def reset_writes(self) -> None:
        pass

    def close(self) -> None:
        self.raw.close()


def via_proxy(worker: Worker, alias: str, port: int) -> Worker:
    """The same deployment, with *alias* reached through a proxy on loopback *port*."""
    databases = dict(worker.databases)
    databases[alias] = {**databases[alias], "HOST": "127.0.0.1", "PORT": str(port)}
    other = Worker(databases, worker.tpc)
    other.needs_setup, worker.needs_setup = worker.needs_setup, False
    return other


def pg_connect(db: ScratchDatabase) -> Any:
    import psycopg

    return psycopg.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        dbname=db.name,
        autocommit=True,
    )


def mysql_connect(db: ScratchDatabase) -> Any:
    import MySQLdb

    conn = MySQLdb.connect(
        host=db.host, port=db.port, user=db.user, password=db.password, database=db.name
    )
    conn.autocommit(True)
    return conn


def query(db: ScratchDatabase, sql: str) -> list[tuple[Any, ...]]:
    conn = pg_connect(db) if db.vendor == "postgresql" else mysql_connect(db)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        conn.close()


def item_ids(db: ScratchDatabase) -> list[int]:
    return sorted(r[0] for r in query(db, "SELECT id FROM tpc_testapp_item"))


def accord_prepared(db: ScratchDatabase) -> list[str]:
    """accord's branches still prepared (PostgreSQL: this database; MySQL: the server)."""
    if db.vendor == "postgresql":
        rows = query(db, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
        return [r[0] for r in rows if r[0].startswith("accord:")]
    rows = query(db, "XA RECOVER")
    return [bytes(r[3]).decode("latin-1") for r in rows if int(r[0]) == 0x41434344]


def settled_recovery(worker: Worker, timeout: float = 15.0) -> dict[str, Any]:
    """Recover until no branch is "busy" (MariaDB may not have noticed a killed owner yet)."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = worker.run("recover")
        if not any(r["action"] == "busy" for r in report["resolutions"]):
            return report
        assert time.monotonic() < deadline, report
        time.sleep(0.2)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
