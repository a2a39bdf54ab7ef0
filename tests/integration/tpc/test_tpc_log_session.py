"""The decision log's own session is checked before use: an idle disconnect is not a doubt.

The separate decision log keeps a session of its own. A server that ends idle
sessions (MariaDB ``wait_timeout``, PostgreSQL ``idle_session_timeout``) must
not make the next commit fail with ``OutcomeUnknown``: nothing was sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from tpc_helpers import Worker, accord_prepared, item_ids

from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


def _with_log(pg_pair: Worker, log: dict[str, Any]) -> Worker:
    worker = Worker({**pg_pair.databases, "log": log}, {**pg_pair.tpc, "DECISION_LOG": "log"})
    worker.needs_setup = True
    return worker


@pytest.mark.parametrize("vendor", ["mysql", "postgresql"])
def test_a_log_session_ended_while_idle_is_replaced_before_the_next_commit(
    pg_pair: Worker,
    postgres_databases: Pair,
    mysql_database: ScratchDatabase,
    vendor: str,
) -> None:
    if vendor == "mysql":
        log = mysql_database.django_settings(
            OPTIONS={"init_command": "SET SESSION wait_timeout = 1"}
        )
    else:
        log = postgres_databases[0].django_settings(
            OPTIONS={"options": "-c idle_session_timeout=1000"}
        )
    worker = _with_log(pg_pair, log)
    result = worker.run("write_after_idle", item_id=1, aliases=["default", "ledger"], idle=2.5)
    assert [r.get("outcome") for r in result["outcomes"]] == ["committed", "committed"], result
    assert [item_ids(db) for db in postgres_databases] == [[1, 2], [1, 2]]
    assert not any(accord_prepared(db) for db in postgres_databases)
