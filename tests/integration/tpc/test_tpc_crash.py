"""Crash injection: the coordinator process is SIGKILLed at every step; recovery makes it whole.

After ``tpc.recover()`` each transaction is on both databases or on neither,
and no accord branch is left prepared.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from tpc_helpers import Worker, accord_prepared, item_ids, query

from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]
BEFORE_DECISION = ["before-prepare", "after-prepare-1"]
AFTER_DECISION = ["after-decision", "after-commit-1", "before-forget"]


def _separate_log(worker: Worker) -> Worker:
    """The decision log on its own connection ("accord_log": the first database again)."""
    databases = {**worker.databases, "accord_log": worker.databases["default"]}
    other = Worker(databases, {**worker.tpc, "DECISION_LOG": "accord_log"})
    other.needs_setup = worker.needs_setup
    return other


def _recover_and_check(worker: Worker, dbs: Pair, committed: bool) -> dict[str, Any]:
    report = worker.run("recover")
    expected = [1] if committed else []
    assert [item_ids(db) for db in dbs] == [expected, expected]
    assert not any(accord_prepared(db) for db in dbs)
    return report


@pytest.mark.parametrize("step", BEFORE_DECISION + AFTER_DECISION)
def test_kill_with_log_in_a_participant(
    pg_pair: Worker, postgres_databases: Pair, step: str
) -> None:
    pg_pair.killed("write", crash_at=step, item_id=1)
    _recover_and_check(pg_pair, postgres_databases, committed=step in AFTER_DECISION)


@pytest.mark.parametrize(
    "step", [*BEFORE_DECISION, "after-prepare-2", *AFTER_DECISION, "after-commit-2"]
)
def test_kill_with_a_separate_log(pg_pair: Worker, postgres_databases: Pair, step: str) -> None:
    worker = _separate_log(pg_pair)
    worker.killed("write", crash_at=step, item_id=1)
    committed = step in AFTER_DECISION or step == "after-commit-2"
    _recover_and_check(worker, postgres_databases, committed=committed)


@pytest.mark.parametrize(
    ("separate", "step"), [(False, "after-prepare-1"), (True, "after-prepare-2")]
)
def test_recovery_fences_abort_so_a_paused_coordinator_cannot_commit(
    pg_pair: Worker, postgres_databases: Pair, separate: bool, step: str
) -> None:
    worker = _separate_log(pg_pair) if separate else pg_pair
    proc = worker.start("write_expecting_error", {"pause_at": step}, item_id=1)
    _wait_stopped(proc.pid)
    report = worker.run("recover")
    assert {r["action"] for r in report["resolutions"]} == {"rolled back"}
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=30)
    assert '"error": "TransactionFenced"' in out, err
    assert [item_ids(db) for db in postgres_databases] == [[], []]
    assert query(postgres_databases[0], "SELECT decision FROM accord_tpc_decision") == [("abort",)]


def test_young_in_doubt_transaction_is_left_to_its_coordinator(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    pg_pair.killed("write", crash_at="after-prepare-1", item_id=1)
    report = pg_pair.with_tpc(RECOVERY_DELAY=3600).run("recover")
    assert [r["action"] for r in report["resolutions"]] == ["in flight"]
    assert "younger than the recovery delay" in report["resolutions"][0]["reason"]
    assert len(accord_prepared(postgres_databases[1])) == 1


def test_dry_run_reports_and_changes_nothing(pg_pair: Worker, postgres_databases: Pair) -> None:
    pg_pair.killed("write", crash_at="after-decision", item_id=1)
    result = pg_pair.run("management_command", dry_run=True)
    assert "would commit: accord:default:" in result["output"]
    assert len(accord_prepared(postgres_databases[1])) == 1
    assert item_ids(postgres_databases[1]) == []


def test_management_command_resolves_and_reports(pg_pair: Worker, postgres_databases: Pair) -> None:
    pg_pair.killed("write", crash_at="after-prepare-1", item_id=1)
    result = pg_pair.run("management_command", dry_run=False)
    assert "rolled back: accord:default:" in result["output"]
    assert "error" not in result
    assert not accord_prepared(postgres_databases[1])


def test_two_recovery_workers_at_once_do_no_harm(pg_pair: Worker, postgres_databases: Pair) -> None:
    for item_id, step in [(1, "after-decision"), (2, "after-prepare-1")]:
        pg_pair.killed("write", crash_at=step, item_id=item_id)
    procs = [pg_pair.start("recover") for _ in range(2)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    assert [item_ids(db) for db in postgres_databases] == [[1], [1]]
    assert not any(accord_prepared(db) for db in postgres_databases)


def test_outcome_is_in_doubt_until_recovery_decides(pg_pair: Worker) -> None:
    proc = pg_pair.start("write", {"crash_at": "after-prepare-1"}, item_id=1)
    proc.communicate(timeout=30)
    report = pg_pair.with_tpc(RECOVERY_DELAY=3600).run("recover")
    xid = report["resolutions"][0]["xid"]
    assert pg_pair.with_tpc(RECOVERY_DELAY=3600).run("outcome", xid=xid) == {"outcome": "in doubt"}
    pg_pair.run("recover")
    assert pg_pair.run("outcome", xid=xid) == {"outcome": "rolled back"}


def _wait_stopped(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not stop")


def test_a_second_recovery_worker_steps_aside_while_one_holds_the_lock(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    from tpc_helpers import DriverSession, pg_connect

    from accord.core.tpc.sqllog import SQLDecisionLog

    pg_pair.killed("write", crash_at="after-prepare-1", item_id=1)
    holder = SQLDecisionLog(
        "default", lambda: DriverSession(pg_connect(postgres_databases[0]), "postgresql")
    )
    try:
        with holder.recovery_lock() as held:  # stands for a running recovery worker
            assert held
            report = pg_pair.run("recover")
    finally:
        holder.close()
    assert report["locked_out"] is True
    assert report["resolutions"] == []
    assert len(accord_prepared(postgres_databases[1])) == 1


def test_a_coordinator_paused_past_the_purge_of_its_fence_still_cannot_commit(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    worker = pg_pair.with_tpc(DECISION_RETENTION=1)
    proc = worker.start("write_expecting_error", {"pause_at": "after-prepare-1"}, item_id=1)
    _wait_stopped(proc.pid)
    assert {r["action"] for r in worker.run("recover")["resolutions"]} == {"rolled back"}
    time.sleep(1.5)  # the abort record is now older than the retention
    assert worker.run("recover")["purged"] == 1
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=30)
    assert '"error": "TransactionFenced"' in out, err
    assert "purge horizon" in out
    assert [item_ids(db) for db in postgres_databases] == [[], []]
