"""A replica alias is never taken for a participant by recovery.

A replica receives its primary's transactions: a MariaDB replica applies
``XA PREPARE`` from the binary log and lists the branch in ``XA RECOVER``,
where recovery could resolve it on the replica instead of the primary; a
PostgreSQL standby refuses ``COMMIT PREPARED``. Recovery skips an alias whose
server says it is a replica (``pg_is_in_recovery()``, MySQL ``read_only``),
reporting it, and the system checks name it.
"""

from __future__ import annotations

import dataclasses

from tpc_helpers import Worker, accord_prepared, item_ids, query

from accord.testing.databases import ScratchDatabase
from accord.testing.standby import PostgresStandby

Standby = tuple[list[ScratchDatabase], PostgresStandby]


def _deployment(primary_and_standby: Standby, **tpc: object) -> tuple[Worker, Worker]:
    (first, second), standby = primary_and_standby
    databases = {"default": first.django_settings(), "ledger": second.django_settings()}
    worker = Worker(databases, {"RECOVERY_DELAY": 0, **tpc})
    worker.needs_setup = True
    worker.run("write", item_id=9)
    replica = dataclasses.replace(second, port=standby.port).django_settings()
    with_replica = {"default": databases["default"], "replica": replica, **databases}
    return worker, Worker(with_replica, worker.tpc)


def test_recovery_does_not_resolve_through_a_standby(primary_and_standby: Standby) -> None:
    (_, second), _ = primary_and_standby
    worker, with_replica = _deployment(primary_and_standby)
    worker.killed("write", crash_at="after-decision", item_id=1)
    report = with_replica.run("recover")
    assert [(r["alias"], r["action"]) for r in report["resolutions"]] == [("ledger", "committed")]
    assert "replica" in report["unreachable"]
    assert "standby" in report["unreachable"]["replica"]
    assert item_ids(second) == [1, 9]
    assert accord_prepared(second) == []


def test_a_standby_in_the_recovery_aliases_is_a_check_error(primary_and_standby: Standby) -> None:
    _, with_replica = _deployment(primary_and_standby)
    messages = with_replica.run("checks")
    assert any("'replica'" in m and "standby" in m for m in messages), messages
    assert query(primary_and_standby[0][0], "SELECT 1") == [(1,)]
