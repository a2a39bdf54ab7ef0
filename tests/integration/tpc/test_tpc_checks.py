"""System checks for two-phase commit, each on a configuration that triggers it."""

from __future__ import annotations

import pytest
from tpc_helpers import Worker, query

from accord.testing.databases import PostgresDatabases, ScratchDatabase
from accord.testing.postgres import PostgresServer
from accord.testing.pytest_plugin import services


def test_a_well_configured_project_passes(pg_maria: Worker) -> None:
    assert pg_maria.run("checks") == []


def test_invalid_settings_are_reported_with_the_value(pg_pair: Worker) -> None:
    messages = pg_pair.with_tpc(NODE="Not A Node").run("checks")
    assert len(messages) == 1
    assert messages[0].startswith("accord.E100: two-phase-commit node id 'Not A Node'")


def test_an_engine_that_cannot_take_part_is_reported(pg_pair: Worker) -> None:
    databases = {
        **pg_pair.databases,
        "lite": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
    worker = Worker(databases, {**pg_pair.tpc, "RECOVERY_ALIASES": ["default", "lite"]})
    worker.needs_setup = True
    messages = worker.run("checks")
    assert [m.split(":")[0] for m in messages] == ["accord.E105"]
    assert "'lite' (sqlite)" in messages[0]


def test_a_project_that_does_not_configure_tpc_gets_no_tpc_checks(pg_pair: Worker) -> None:
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    worker = Worker(databases, None)
    assert worker.run("checks") == []


def test_manage_py_migrate_creates_the_decision_log_table(pg_pair: Worker) -> None:
    pg_pair.needs_setup = False  # nothing migrated: the table is missing, as in a new project
    result = pg_pair.run("manage", argv=["migrate", "accord", "--database", "default"])
    assert result["exit"] == 0, result
    assert pg_pair.run("table_exists", alias="default", table="accord_tpc_decision") == {
        "exists": True
    }


def test_a_missing_decision_log_table_is_a_warning_that_says_to_migrate(pg_pair: Worker) -> None:
    pg_pair.needs_setup = False
    result = pg_pair.run("manage", argv=["check", "--database", "default"])
    assert result["exit"] == 0, result
    assert "accord.W102" in result["errors"] + result["output"]
    assert "migrate accord --database default" in result["errors"] + result["output"]


@pytest.mark.parametrize(
    ("tpc", "named"),
    [
        ({"RECOVERY_DELAY": float("nan")}, "RECOVERY_DELAY"),
        ({"DECISION_RETENTION": float("nan")}, "DECISION_RETENTION"),
        ({"DECISION_RETENTION": 0}, "DECISION_RETENTION"),
        ({"RECOVERY_DELAY": 600, "DECISION_RETENTION": 1200}, "DECISION_RETENTION"),
        ({"RECOVER_NODES": 5}, "RECOVER_NODES"),
    ],
    ids=["nan-delay", "nan-retention", "zero-retention", "retention-near-delay", "nodes-int"],
)
def test_bad_numbers_and_lists_are_reported_by_the_checks(
    pg_pair: Worker, tpc: dict[str, object], named: str
) -> None:
    messages = pg_pair.with_tpc(**tpc).run("checks")
    assert [m.split(":")[0] for m in messages] == ["accord.E100"], messages
    assert named in messages[0]


def test_an_accord_setting_that_is_not_a_dict_is_reported(pg_pair: Worker) -> None:
    worker = Worker(pg_pair.databases, pg_pair.tpc)
    messages = worker.run("checks", {"accord": ["TPC"]})
    assert [m.split(":")[0] for m in messages] == ["accord.E100"], messages
    assert "['TPC']" in messages[0]


def test_a_postgresql_without_fsync_is_a_durability_warning(pg_pair: Worker) -> None:
    server = PostgresServer(settings={"fsync": "off"})
    databases = PostgresDatabases(1)
    try:
        with services():
            server.start()
            databases = PostgresDatabases(1, url=server.url)
            (db,) = databases.create()
        worker = Worker({"default": db.django_settings()}, {})
        worker.needs_setup = True
        messages = worker.run("checks", prefixes=["accord.W107"])
    finally:
        databases.drop()
        server.close()
    assert len(messages) == 1, messages
    assert "PostgreSQL fsync is off" in messages[0]


def test_a_non_transactional_table_in_a_mariadb_participant_is_a_warning(
    pg_maria: Worker, mysql_database: ScratchDatabase
) -> None:
    pg_maria.run("write", item_id=1, aliases=["default", "maria"])  # sets the tables up
    query(mysql_database, "CREATE TABLE counters (id INT) ENGINE=MyISAM")
    messages = pg_maria.run("checks", prefixes=["accord.W109"])
    assert len(messages) == 1, messages
    assert "counters (MyISAM)" in messages[0]


def test_a_zookeeper_log_without_credentials_is_a_warning(pg_pair: Worker) -> None:
    worker = pg_pair.with_tpc(DECISION_LOG="zookeeper://127.0.0.1:1/accord/tpc")
    messages = worker.run("checks", prefixes=["accord.W110"])
    assert [m.split(":")[0] for m in messages] == ["accord.W110"]


def test_the_shared_servers_of_the_tests_have_no_durability_warning(pg_maria: Worker) -> None:
    assert pg_maria.run("checks", prefixes=["accord.W107", "accord.E108"]) == []
