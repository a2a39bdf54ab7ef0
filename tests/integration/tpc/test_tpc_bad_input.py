"""tpc.atomic refuses bad aliases before anything is written, naming the bad value."""

from __future__ import annotations

import pytest
from tpc_helpers import Worker

from accord.testing.databases import ScratchDatabase


@pytest.fixture
def with_sqlite(pg_pair: Worker, tmp_path: object) -> Worker:
    databases = {
        **pg_pair.databases,
        "lite": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }
    worker = Worker(databases, pg_pair.tpc)
    worker.needs_setup = True
    return worker


@pytest.mark.parametrize(
    ("aliases", "expected"),
    [
        (["default", "nowhere"], "unknown database alias 'nowhere'"),
        (["default"], "needs at least two database aliases"),
        (["default", "ledger", "default"], "names 'default' more than once"),
        (["default", "lite"], "'lite' uses sqlite, which cannot take part"),
    ],
    ids=["unknown", "single", "repeated", "sqlite"],
)
def test_bad_aliases_are_refused_with_a_configuration_error(
    with_sqlite: Worker,
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    aliases: list[str],
    expected: str,
) -> None:
    result = with_sqlite.run("bad_aliases", aliases=aliases)
    assert result["error"] == "ConfigurationError"
    assert result["valueerror"] is True
    assert expected in result["message"]


@pytest.mark.parametrize(
    ("tpc", "expected"),
    [
        ({"DECISION_LOG_OPTIONS": {"timeout": 1}}, "a decision log in a database takes no options"),
        (
            {"DECISION_LOG": "zookeeper://127.0.0.1:1/accord", "DECISION_LOG_OPTIONS": {"x": 1}},
            "expected only 'timeout'",
        ),
    ],
    ids=["database-log", "zookeeper-log"],
)
def test_decision_log_options_a_log_does_not_take_are_refused_before_anything_is_written(
    pg_pair: Worker,
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
    tpc: dict[str, object],
    expected: str,
) -> None:
    result = pg_pair.with_tpc(**tpc).run(
        "write_reporting_error", item_id=1, aliases=["default", "ledger"]
    )
    assert result["error"] == "ConfigurationError", result
    assert expected in result["message"]
    assert "options" in result["message"]
