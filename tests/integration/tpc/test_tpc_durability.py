"""The commit decision is durable whatever the database's own durability settings say.

PostgreSQL with ``synchronous_commit = off`` acknowledges a commit before its
WAL is on disk; a crash then loses it. accord's decision commit must not be
such a commit: if it were lost, the transaction's other databases would have
committed (phase two) while the log database, after the crash, has neither
the decision nor its own writes.
"""

from __future__ import annotations

import os
import signal

import pytest
from test_tpc_crash import _wait_stopped
from tpc_helpers import Worker, accord_prepared, item_ids, pg_connect

from accord.testing.databases import ScratchDatabase
from accord.testing.postgres import PostgresServer

ALIASES = ["default", "maria"]


def _checkpoint(db: ScratchDatabase) -> None:
    conn = pg_connect(db)
    try:
        conn.execute("CHECKPOINT")  # the setup itself was committed asynchronously
    finally:
        conn.close()


@pytest.mark.parametrize("separate_log", [False, True], ids=["last-resource", "separate-log"])
def test_decision_survives_a_crash_of_an_asynchronous_commit_server(
    async_postgres: tuple[PostgresServer, ScratchDatabase],
    mysql_database: ScratchDatabase,
    separate_log: bool,
) -> None:
    server, db = async_postgres
    databases = {"default": db.django_settings(), "maria": mysql_database.django_settings()}
    tpc = {"RECOVERY_DELAY": 0, "NODE": mysql_database.node}
    if separate_log:
        databases["log"] = db.django_settings()
        tpc["DECISION_LOG"] = "log"
    worker = Worker(databases, tpc)
    worker.needs_setup = True
    worker.run("write", item_id=9, aliases=ALIASES)
    _checkpoint(db)
    proc = worker.start("write", {"pause_at": "after-decision"}, item_id=1, aliases=ALIASES)
    _wait_stopped(proc.pid)
    server.kill()  # a crash: PostgreSQL's shared WAL buffers are gone
    server.start()
    os.kill(proc.pid, signal.SIGCONT)
    proc.communicate(timeout=60)
    worker.run("recover")
    assert item_ids(db) == item_ids(mysql_database) == [1, 9]
    assert accord_prepared(mysql_database) == accord_prepared(db) == []
