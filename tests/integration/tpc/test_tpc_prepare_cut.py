"""``PrepareFailed`` means nothing was committed, also when the connection is cut at PREPARE.

The connection to the prepared database is cut before its ``PREPARE
TRANSACTION`` reaches it, or after the server prepared the branch and before
the reply came back. The block raises ``PrepareFailed`` (the driver's error as
its cause) and says nothing was committed; that must be true of the recorded
history: after recovery no database holds a row of the block or a prepared
branch, and the next block commits on both.
"""

from __future__ import annotations

import pytest
from tpc_helpers import Worker, accord_prepared, item_ids, via_proxy

from accord.testing.databases import ScratchDatabase
from accord.testing.faults import FaultProxy

Pair = tuple[ScratchDatabase, ScratchDatabase]


@pytest.mark.parametrize("fault", ["cut_before", "cut_after"])
def test_a_cut_at_prepare_is_prepare_failed_and_nothing_is_committed_anywhere(
    pg_pair: Worker, postgres_databases: Pair, fault: str
) -> None:
    pg_pair.run("write", item_id=1)  # tables made, directly
    with FaultProxy(postgres_databases[1].port) as proxy:
        worker = via_proxy(pg_pair, "ledger", proxy.port)
        getattr(proxy, fault)(b"PREPARE TRANSACTION")
        result = worker.run("write_catching", item_id=2)
        assert proxy.fired == 1
    assert result.get("error") == "PrepareFailed", result
    assert "nothing was committed" in result["message"], result
    if fault == "cut_after":  # the server prepared the branch: it is left to recovery
        assert accord_prepared(postgres_databases[1]), "the cut came before the PREPARE ran"
    pg_pair.run("recover")  # a branch prepared before the cut is the fence's to roll back
    assert [item_ids(db) for db in postgres_databases] == [[1], [1]]
    assert [accord_prepared(db) for db in postgres_databases] == [[], []]
    assert pg_pair.run("write", item_id=3)["outcome"] == "committed"
    assert [item_ids(db) for db in postgres_databases] == [[1, 3], [1, 3]]
