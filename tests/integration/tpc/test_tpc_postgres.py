"""tpc.atomic on two PostgreSQL databases: commit, rollback, prepare failures, on_commit."""

from __future__ import annotations

from tpc_helpers import Worker, accord_prepared, item_ids, query

from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


def test_block_commits_on_both_databases(pg_pair: Worker, postgres_databases: Pair) -> None:
    result = pg_pair.run("write", item_id=7)
    assert result["outcome"] == "committed"
    assert [item_ids(db) for db in postgres_databases] == [[7], [7]]
    assert not any(accord_prepared(db) for db in postgres_databases)


def test_commit_decision_is_logged_in_the_log_database(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    xid = pg_pair.run("write", item_id=7)["xid"]
    rows = query(postgres_databases[0], "SELECT xid, decision FROM accord_tpc_decision")
    assert rows == [(xid, "commit")]


def test_exception_in_block_rolls_back_both_and_propagates(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    assert pg_pair.run("fail_in_block", item_id=7) == {"error": "RuntimeError", "message": "boom"}
    assert [item_ids(db) for db in postgres_databases] == [[], []]


def test_prepare_failure_rolls_back_both_and_raises_prepare_failed_with_the_drivers_error(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    result = pg_pair.run("deferred_fk_violation", alias="ledger")
    assert (result["error"], result["cause"]) == ("PrepareFailed", "IntegrityError"), result
    assert "database 'ledger' refused to prepare" in result["message"]
    assert "foreign key" in result["message"]  # what the database said
    assert [item_ids(db) for db in postgres_databases] == [[], []]
    assert not any(accord_prepared(db) for db in postgres_databases)


def test_last_resource_commit_refused_rolls_back_the_prepared_one(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    result = pg_pair.run("deferred_fk_violation", alias="default")
    assert (result["error"], result["cause"]) == ("PrepareFailed", "IntegrityError"), result
    assert "database 'default' refused to commit" in result["message"]
    assert [item_ids(db) for db in postgres_databases] == [[], []]
    assert not any(accord_prepared(db) for db in postgres_databases)
    assert query(postgres_databases[0], "SELECT * FROM accord_tpc_decision") == []


def test_every_branch_runs_at_the_isolation_level_its_database_is_configured_with(
    postgres_databases: Pair,
) -> None:
    # accord opens the branches itself (one round trip for all): with the driver's BEGIN.
    first, second = postgres_databases
    serializable = {"isolation_level": 4}  # psycopg.IsolationLevel.SERIALIZABLE
    worker = Worker(
        {
            "default": {**first.django_settings(), "OPTIONS": serializable},
            "ledger": second.django_settings(),
        },
        {"RECOVERY_DELAY": 0},
    )
    worker.needs_setup = True
    seen = worker.run("isolation_in_block")
    assert seen == {"default": "serializable", "ledger": "read committed"}
    assert [item_ids(db) for db in postgres_databases] == [[1], [1]]


def test_a_deferred_unique_violation_at_the_last_resource_commit_is_prepare_failed_not_a_fence(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    result = pg_pair.run("deferred_unique_violation")
    assert (result["error"], result["cause"]) == ("PrepareFailed", "IntegrityError"), result
    assert "pending" in result["message"]
    assert [item_ids(db) for db in postgres_databases] == [[], []]
    assert not any(accord_prepared(db) for db in postgres_databases)
    assert query(postgres_databases[0], "SELECT * FROM accord_tpc_decision") == []


def test_single_writer_commits_in_one_phase_without_log_record(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    assert pg_pair.run("write_some", item_id=3, writers=["ledger"]) == {"outcome": "one-phase"}
    assert [item_ids(db) for db in postgres_databases] == [[], [3]]
    assert query(postgres_databases[0], "SELECT * FROM accord_tpc_decision") == []


def test_read_only_block_prepares_nothing(pg_pair: Worker, postgres_databases: Pair) -> None:
    assert pg_pair.run("write_some", item_id=3, writers=[]) == {"outcome": "one-phase"}
    assert query(postgres_databases[0], "SELECT * FROM accord_tpc_decision") == []


def test_on_commit_callbacks_run_after_every_database_committed(pg_pair: Worker) -> None:
    events = pg_pair.run("on_commit_order", item_id=5)
    assert events == ["block end", ["default", True], ["ledger", True]]


def test_on_commit_callbacks_never_run_on_rollback(pg_pair: Worker) -> None:
    assert pg_pair.run("on_commit_rolled_back", item_id=5) == []


def test_nested_atomic_is_a_savepoint_inside_the_global_transaction(pg_pair: Worker) -> None:
    assert pg_pair.run("nested_savepoint", item_id=10) == {"default": [10], "ledger": [10]}


def test_entering_inside_an_atomic_block_is_refused_before_writing(pg_pair: Worker) -> None:
    result = pg_pair.run("inside_atomic")
    assert result["error"] == "AtomicBlockActive"
    assert "'ledger'" in result["message"]
    assert result["written"] == 0


def test_decorator_runs_a_global_transaction_per_call(pg_pair: Worker) -> None:
    assert pg_pair.run("decorator", ids=[1, 2]) == {"default": 2, "ledger": 2}


def test_outcome_observers_are_told(pg_pair: Worker) -> None:
    seen = pg_pair.run("outcomes_observed", item_id=1)
    assert seen == [["committed", ["default", "ledger"]], ["one-phase", ["default", "ledger"]]]


def test_outcome_of_a_committed_transaction_is_committed(pg_pair: Worker) -> None:
    xid = pg_pair.run("write", item_id=1)["xid"]
    assert pg_pair.run("outcome", xid=xid) == {"outcome": "committed"}


def test_outcome_without_record_or_prepared_branch_is_rolled_back(pg_pair: Worker) -> None:
    xid = "accord:default:" + "0" * 11 + "1" + "ab" * 10  # 1 ms after the epoch
    result = pg_pair.with_tpc(DECISION_RETENTION=10**10).run("outcome", xid=xid)
    assert result == {"outcome": "rolled back"}


def test_outcome_of_a_malformed_xid_names_the_expected_form(pg_pair: Worker) -> None:
    result = pg_pair.run("outcome", xid="nope")
    assert result["error"] == "ConfigurationError"
    assert "'nope'" in result["message"]
    assert "accord:<node>:" in result["message"]
