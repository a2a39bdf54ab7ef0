"""What a test session left behind: processes, scratch databases, broker queues.

A test suite that starts servers and creates databases on shared services must
remove all of it, also when a test fails. :func:`snapshot` records what
exists at the start of a session; :func:`left_behind` compares a second
snapshot with it and describes, one string each, what this session added and
did not remove. accord's own ``tests/conftest.py`` fails the session when the
list is not empty; use it the same way in yours.

Only what this process can own is counted, so that sessions running side by
side do not blame each other:

- processes: children of this process that are still alive (zombies and
  multiprocessing's resource tracker excepted);
- databases: scratch databases named for this process's pid
  (``accord_test_<pid>_...``) on the default PostgreSQL and MariaDB servers;
- queues: RabbitMQ queues named ``accord-<pid>-...``, read with
  ``rabbitmqctl`` where it is available.

Failure behaviour: a service that cannot be reached counts as holding
nothing; this module never raises for an unreachable service.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from accord.testing import _env
from accord.testing.brokers import rabbitmq_queues

__all__ = ["Snapshot", "left_behind", "owned_prefix", "snapshot"]


def owned_prefix(*kind: str, separator: str = "_") -> str:
    """The name prefix of what this process creates: ``accord_<kind>_<pid>_``.

    ``owned_prefix("test")`` is ``accord_test_<pid>_`` (scratch databases);
    ``owned_prefix(separator="-")`` is ``accord-<pid>-`` (broker queues).
    """
    return separator.join(("accord", *kind, str(os.getpid()), ""))


@dataclass(frozen=True)
class Snapshot:
    """What exists at one moment (see the module docstring for what is counted)."""

    processes: frozenset[str] = field(default_factory=frozenset)
    databases: frozenset[str] = field(default_factory=frozenset)
    queues: frozenset[str] = field(default_factory=frozenset)


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children


def _live_children() -> frozenset[str]:
    found = set()
    for child in _children(os.getpid()):
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended meanwhile
        state = stat.rpartition(")")[2].split()[0]
        if state == "Z" or "multiprocessing.resource_tracker" in cmdline:
            continue
        found.add(f"process {child}: {cmdline.strip()[:200]}")
    return frozenset(found)


def _postgres_databases() -> set[str]:
    try:
        import psycopg
    except ImportError:
        return set()
    url = _env.url_from_env(_env.POSTGRES_URL)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            rows = conn.execute("SELECT datname FROM pg_database").fetchall()
    except psycopg.Error:
        return set()
    return {f"PostgreSQL database {name}" for (name,) in rows}


def _mysql_databases() -> set[str]:
    try:
        import MySQLdb
    except ImportError:
        return set()
    from accord.testing.databases import _server_of

    server = _server_of(_env.url_from_env(_env.MYSQL_URL), "mysql", 3306, "root")
    try:
        conn = MySQLdb.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            connect_timeout=3,
        )
    except MySQLdb.Error:
        return set()
    try:
        cursor = conn.cursor()
        cursor.execute("SHOW DATABASES")
        return {f"MariaDB/MySQL database {name}" for (name,) in cursor.fetchall()}
    finally:
        conn.close()


def snapshot() -> Snapshot:
    """Record the processes, databases and queues this process owns right now."""
    prefix = owned_prefix("test")
    databases = {
        name for name in _postgres_databases() | _mysql_databases() if prefix in name.split()[-1]
    }
    queue_prefix = owned_prefix(separator="-")
    queues = {
        f"RabbitMQ queue {name}"
        for name in rabbitmq_queues() or set()
        if name.startswith(queue_prefix)
    }
    return Snapshot(_live_children(), frozenset(databases), frozenset(queues))


def left_behind(before: Snapshot, after: Snapshot | None = None) -> list[str]:
    """What exists in ``after`` (default: now) and did not in ``before``, sorted."""
    after = after or snapshot()
    added = (
        (after.processes - before.processes)
        | (after.databases - before.databases)
        | (after.queues - before.queues)
    )
    return sorted(added)
