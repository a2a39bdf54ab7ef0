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
