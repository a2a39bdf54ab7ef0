"""The operator's tools: the in-doubt report, heuristic decisions, hazards, the watch loop.

Everything runs as ``manage.py accord_recover ...`` in a worker process, so
the exit status is the one a shell, cron or a supervisor sees.
"""

from __future__ import annotations

import os
import signal

from test_tpc_crash import _separate_log, _wait_stopped
from tpc_helpers import Worker, accord_prepared, item_ids, mysql_connect, pg_connect, query

from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


def _undecided(worker: Worker) -> str:
    """Kill a coordinator between its prepares and its decision; the xid it left."""
    worker.killed("write", crash_at="after-prepare-2", item_id=1)
    report = worker.with_tpc(RECOVERY_DELAY=3600).run("recover")
    xid: str = report["resolutions"][0]["xid"]
    return xid


def test_the_in_doubt_report_shows_age_branches_decision_and_next_step(
    pg_pair: Worker,
) -> None:
    worker = _separate_log(pg_pair)
    xid = _undecided(worker)
    result = worker.with_tpc(RECOVERY_DELAY=3600).run("manage", argv=["accord_recover", "--list"])
    assert result["exit"] == 0, result
    lines = result["output"].splitlines()
    assert lines[0].startswith(f"{xid}  age ")
    assert "undecided" in lines[0]
    assert "next: wait for its coordinator" in lines[0]
    assert {line.split(":")[0].strip() for line in lines[1:]} == {
        "prepared on 'default'",
        "prepared on 'ledger'",
    }


def test_a_heuristic_commit_of_an_undecided_transaction_needs_force(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    worker = _separate_log(pg_pair)
    xid = _undecided(worker)
    refused = worker.run("manage", argv=["accord_recover", "--commit", xid])
    assert refused["exit"] == 1
    assert "--force" in refused["errors"]
    assert query(postgres_databases[0], "SELECT count(*) FROM accord_tpc_decision") == [(0,)]
    done = worker.run("manage", argv=["accord_recover", "--commit", xid, "--force"])
    assert done["exit"] == 0, done
    assert "heuristic decision by an operator: commit" in done["output"]
    assert [item_ids(db) for db in postgres_databases] == [[1], [1]]
    rows = query(postgres_databases[0], "SELECT decision, source FROM accord_tpc_decision")
    assert rows == [("commit", "operator")]


def test_a_heuristic_decision_against_the_recorded_one_is_refused(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    pg_pair.killed("write", crash_at="after-decision", item_id=1)  # the log says commit
    xid = pg_pair.run("recover", dry_run=True)["resolutions"][0]["xid"]
    result = pg_pair.run("manage", argv=["accord_recover", "--rollback", xid])
    assert result["exit"] == 1
    assert "refused: the log records commit" in result["errors"]
    assert len(accord_prepared(postgres_databases[1])) == 1  # nothing was changed


def test_a_heuristic_rollback_is_recorded_before_it_is_carried_out(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    worker = _separate_log(pg_pair)
    xid = _undecided(worker)
    result = worker.run("manage", argv=["accord_recover", "--rollback", xid])
    assert result["exit"] == 0, result
    assert [item_ids(db) for db in postgres_databases] == [[], []]
    assert not any(accord_prepared(db) for db in postgres_databases)
    rows = query(postgres_databases[0], "SELECT decision, source FROM accord_tpc_decision")
    assert rows == [("abort", "operator")]
    again = worker.run("manage", argv=["accord_recover", "--commit", xid, "--force"])
    assert again["exit"] == 1
    assert "the log records abort for" in again["errors"]
    assert "(by operator, at " in again["errors"]


def test_an_operator_commit_recorded_while_its_coordinator_paused_is_a_conflict_not_a_fence(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    proc = pg_pair.start("write_expecting_error", {"pause_at": "after-prepare-1"}, item_id=1)
    _wait_stopped(proc.pid)
    report = pg_pair.with_tpc(RECOVERY_DELAY=3600).run("recover")
    xid = report["resolutions"][0]["xid"]
    done = pg_pair.run("manage", argv=["accord_recover", "--commit", xid, "--force"])
    assert done["exit"] == 0, done
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=30)
    assert '"error": "DecisionConflict"' in out, err
    # The coordinator's own database (the decision's) rolled back; the prepared one was
    # committed by the operator: the hazard the message names.
    assert [item_ids(db) for db in postgres_databases] == [[], [1]]
    rows = query(postgres_databases[0], "SELECT decision, source FROM accord_tpc_decision")
    assert rows == [("commit", "operator")]


def test_a_branch_rolled_back_by_hand_against_a_commit_is_a_hazard(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    pg_pair.killed("write", crash_at="after-decision", item_id=1)
    proc = pg_pair.start("manage", {"pause_at": "recovery-scanned"}, argv=["accord_recover"])
    _wait_stopped(proc.pid)
    (gid,) = accord_prepared(postgres_databases[1])
    conn = pg_connect(postgres_databases[1])
    try:
        conn.execute(f"ROLLBACK PREPARED '{gid}'")  # a DBA, outside accord
    finally:
        conn.close()
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert '"exit": 1' in out, err
    assert f"hazard: {gid} on 'ledger'" in out
    assert "rolled back outside accord, against the decision to have it committed" in out


def test_a_mariadb_branch_ended_by_hand_is_reported_as_resolved_elsewhere(
    pg_maria: Worker, mysql_database: ScratchDatabase
) -> None:
    pg_maria.killed("write", crash_at="after-decision", item_id=1, aliases=["default", "maria"])
    proc = pg_maria.start("manage", {"pause_at": "recovery-scanned"}, argv=["accord_recover"])
    _wait_stopped(proc.pid)
    conn = mysql_connect(mysql_database)
    try:
        cursor = conn.cursor()
        cursor.execute("XA RECOVER")
        for format_id, gtrid_length, _, data in cursor.fetchall():
            if int(format_id) == 0x41434344 and mysql_database.node.encode() in bytes(data):
                raw = bytes(data)
                gtrid, bqual = raw[: int(gtrid_length)], raw[int(gtrid_length) :]
                cursor.execute(f"XA ROLLBACK X'{gtrid.hex()}', X'{bqual.hex()}', {format_id}")
    finally:
        conn.close()
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert '"exit": 1' in out, err
    assert "resolved elsewhere: " in out


def test_the_watch_loop_runs_again_and_again(pg_pair: Worker, postgres_databases: Pair) -> None:
    pg_pair.killed("write", crash_at="after-decision", item_id=1)
    argv = ["accord_recover", "--watch", "--interval", "0.2", "--runs", "3"]
    result = pg_pair.run("manage", argv=argv)
    assert result["exit"] == 0, result
    assert result["output"].count(" recovery run") == 3
    assert "committed: " in result["output"]
    assert [item_ids(db) for db in postgres_databases] == [[1], [1]]


def test_a_block_past_its_prepare_timeout_holds_no_lock_anywhere(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    aliases = ["default", "ledger", "maria"]
    result = pg_maria.run(
        "write_slowly", item_id=1, aliases=aliases, sleep=1.5, prepare_timeout=0.5
    )
    assert result["error"] == "TransactionTimeout", result
    assert [item_ids(db) for db in (*postgres_databases, mysql_database)] == [[], [], []]
    assert not any(accord_prepared(db) for db in (*postgres_databases, mysql_database))
