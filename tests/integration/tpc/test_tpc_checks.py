"""System checks for two-phase commit, each on a configuration that triggers it."""

from __future__ import annotations

from tpc_helpers import Worker


def test_a_well_configured_project_passes(pg_maria: Worker) -> None:
    assert pg_maria.run("checks") == []


def test_invalid_settings_are_reported_with_the_value(pg_pair: Worker) -> None:
    messages = pg_pair.with_tpc(NODE="Not A Node").run("checks")
    assert len(messages) == 1
    assert messages[0].startswith("accord.E100: two-phase-commit node id 'Not A Node'")


def test_missing_decision_log_table_is_reported(pg_pair: Worker) -> None:
    pg_pair.needs_setup = False  # nothing migrated
    messages = pg_pair.run("checks")
    assert messages == [
        "accord.E102: the decision-log table 'accord_tpc_decision' is missing in database 'default'"
    ]


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
