"""A replica alias is never taken for a participant by recovery.

A replica receives its primary's transactions: a MariaDB replica applies
``XA PREPARE`` from the binary log and lists the branch in ``XA RECOVER``,
where recovery could resolve it on the replica instead of the primary; a
PostgreSQL standby refuses ``COMMIT PREPARED``. Recovery skips an alias whose
server says it is a replica (``pg_is_in_recovery()``, MySQL ``read_only``
or ``SHOW SLAVE STATUS`` listing a primary, for a writable replica),
reporting it, and the system checks name it.
"""

from __future__ import annotations

import dataclasses

from tpc_helpers import Worker, accord_prepared, item_ids, query

from accord.testing.databases import ScratchDatabase
from accord.testing.mariadb import MariaDBServer
from accord.testing.standby import PostgresStandby

Standby = tuple[list[ScratchDatabase], PostgresStandby]
MariaReplica = tuple[ScratchDatabase, MariaDBServer, MariaDBServer]


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


def _maria_deployment(
    postgres: ScratchDatabase, primary_and_replica: MariaReplica
) -> tuple[Worker, Worker]:
    maria, _, replica = primary_and_replica
    databases = {"default": postgres.django_settings(), "maria": maria.django_settings()}
    worker = Worker(databases, {"RECOVERY_DELAY": 0, "NODE": maria.node})
    worker.needs_setup = True
    worker.run("write", item_id=9, aliases=["default", "maria"])
    on_replica = dataclasses.replace(maria, port=replica.port).django_settings()
    return worker, Worker({**databases, "replica": on_replica}, worker.tpc)


def test_a_writable_mariadb_replica_lists_the_primarys_prepared_branch(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    maria_primary_and_replica: MariaReplica,
) -> None:
    maria, primary, replica = maria_primary_and_replica
    worker, _ = _maria_deployment(postgres_databases[0], maria_primary_and_replica)
    worker.killed("write", crash_at="after-decision", item_id=1, aliases=["default", "maria"])
    replica.wait_caught_up(primary)
    # the hazard this guards against: the replica's XA RECOVER shows the branch too
    assert accord_prepared(dataclasses.replace(maria, port=replica.port)) == accord_prepared(maria)
    assert len(accord_prepared(maria)) == 1


def test_recovery_does_not_resolve_through_a_writable_mariadb_replica(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    maria_primary_and_replica: MariaReplica,
) -> None:
    maria, primary, replica = maria_primary_and_replica
    worker, with_replica = _maria_deployment(postgres_databases[0], maria_primary_and_replica)
    worker.killed("write", crash_at="after-decision", item_id=1, aliases=["default", "maria"])
    replica.wait_caught_up(primary)
    report = with_replica.run("recover")
    assert [(r["alias"], r["action"]) for r in report["resolutions"]] == [("maria", "committed")]
    assert "SHOW SLAVE STATUS" in report["unreachable"]["replica"]
    replica.wait_caught_up(primary)
    on_replica = dataclasses.replace(maria, port=replica.port)
    assert item_ids(maria) == item_ids(on_replica) == [1, 9]
    assert accord_prepared(maria) == accord_prepared(on_replica) == []


def test_a_writable_mariadb_replica_in_the_recovery_aliases_is_a_check_error(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    maria_primary_and_replica: MariaReplica,
) -> None:
    _, with_replica = _maria_deployment(postgres_databases[0], maria_primary_and_replica)
    messages = with_replica.run("checks")
    assert any("'replica'" in m and "SHOW SLAVE STATUS" in m for m in messages), messages
