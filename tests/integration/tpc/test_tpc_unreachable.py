"""A participant recovery cannot scan: its commit decisions are kept until it can.

Presumed abort turns a missing commit record into a rollback, so purging the
record of a transaction whose branch is still prepared somewhere breaks
atomicity. The records here are made old (past ``DECISION_RETENTION``) so
that only the scan can protect them.
"""

from __future__ import annotations

from tpc_helpers import Worker, accord_prepared, item_ids, query, settled_recovery, via_proxy

from accord.testing.databases import ScratchDatabase
from accord.testing.faults import FaultProxy

Pair = tuple[ScratchDatabase, ScratchDatabase]
ALIASES = ["default", "maria"]


def _old_commit_record(worker: Worker, log_db: ScratchDatabase) -> None:
    worker.killed("write", crash_at="after-decision", item_id=1, aliases=ALIASES)
    query(log_db, "UPDATE accord_tpc_decision SET created = created - 1000000")


def test_commit_record_is_kept_while_a_participant_refuses_connections(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    _old_commit_record(pg_maria, postgres_databases[0])
    with FaultProxy(mysql_database.port) as proxy:
        proxy.refuse()
        report = (
            via_proxy(pg_maria, "maria", proxy.port)
            .with_tpc(DECISION_RETENTION=3600)
            .run("recover")
        )
    assert "maria" in report["unreachable"]
    assert report["purged"] == 0
    settled_recovery(pg_maria)
    assert item_ids(postgres_databases[0]) == item_ids(mysql_database) == [1]
    assert accord_prepared(mysql_database) == []


def test_commit_record_is_kept_when_the_scan_itself_fails(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    _old_commit_record(pg_maria, postgres_databases[0])
    with FaultProxy(mysql_database.port) as proxy:
        proxy.cut_before(b"XA RECOVER")
        via_proxy(pg_maria, "maria", proxy.port).with_tpc(DECISION_RETENTION=3600).run("recover")
        assert proxy.fired == 1
    settled_recovery(pg_maria)
    assert item_ids(postgres_databases[0]) == item_ids(mysql_database) == [1]


def test_old_records_are_purged_once_every_participant_was_scanned(
    pg_maria: Worker, postgres_databases: Pair
) -> None:
    pg_maria.run("write", item_id=1, aliases=ALIASES)
    query(postgres_databases[0], "UPDATE accord_tpc_decision SET created = created - 1000000")
    report = pg_maria.with_tpc(DECISION_RETENTION=3600).run("recover")
    assert report["purged"] == 1
    assert query(postgres_databases[0], "SELECT count(*) FROM accord_tpc_decision") == [(0,)]


def test_the_purge_scans_an_indexed_column(pg_maria: Worker, postgres_databases: Pair) -> None:
    pg_maria.run("write", item_id=1, aliases=ALIASES)
    rows = query(
        postgres_databases[0],
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'accord_tpc_decision'",
    )
    assert any("(created)" in definition for (definition,) in rows), rows
    assert not any("pattern_ops" in definition for (definition,) in rows), rows  # no LIKE index


def test_phase_two_reports_a_branch_resolved_by_hand_before_it_could_commit(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    result = pg_pair.run(
        "hand_resolved_before_phase_two", item_id=1, aliases=["default", "ledger"], victim="ledger"
    )
    assert result["outcome"] == "committed"
    assert result["unconfirmed"] == ["ledger"]
    assert any("ledger" in line and "by hand" in line for line in result["warnings"]), result
