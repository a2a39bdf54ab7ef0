"""Which branches wrote is decided from something that cannot miss a write.

A branch taken for a reader is not prepared: its work is dropped (MySQL) or
committed after the others (PostgreSQL); one that wrote through a path the
execute wrappers do not see must still be prepared and committed.
"""

from __future__ import annotations

from typing import Any

from tpc_helpers import Worker, accord_prepared, item_ids, pg_connect

from accord.testing.databases import ScratchDatabase

Pair = tuple[ScratchDatabase, ScratchDatabase]


def test_writes_made_through_callproc_on_mariadb_commit(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    pg_maria.run("create_item_procedure", alias="maria")
    result = pg_maria.run(
        "write_through_callproc", item_id=1, aliases=["default", "maria"], proc_alias="maria"
    )
    assert result["outcome"] == "committed"
    assert item_ids(postgres_databases[0]) == item_ids(mysql_database) == [1]
    assert accord_prepared(mysql_database) == []


def test_callproc_alone_is_a_write_too(pg_maria: Worker, mysql_database: ScratchDatabase) -> None:
    pg_maria.run("create_item_procedure", alias="maria")
    pg_maria.run(
        "write_through_callproc", item_id=2, aliases=["maria", "default"], proc_alias="maria"
    )
    assert item_ids(mysql_database) == [2]


def _notify(worker: Worker, item_id: int) -> dict[str, Any]:
    kwargs = {"writer": "default", "notifier": "ledger", "channel": "accord_items"}
    result: dict[str, Any] = worker.run("write_and_notify", item_id=item_id, **kwargs)
    return result


def test_a_participant_that_only_notifies_delivers_its_notification(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    listener = pg_connect(postgres_databases[1])
    try:
        listener.execute("LISTEN accord_items")
        result = _notify(pg_pair, 1)
        got = [n.payload for n in listener.notifies(timeout=10, stop_after=1)]
    finally:
        listener.close()
    assert result["outcome"] == "one-phase"
    assert got == ["item 1"]
    assert item_ids(postgres_databases[0]) == [1]


def test_notify_is_not_sent_when_the_block_rolls_back(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    listener = pg_connect(postgres_databases[1])
    try:
        listener.execute("LISTEN accord_items")
        _notify(pg_pair, 1)
        assert _notify(pg_pair, 1)["error"] == "IntegrityError"  # the same id again
        payloads = [n.payload for n in listener.notifies(timeout=3)]
    finally:
        listener.close()
    assert payloads == ["item 1"]
