"""The branches' BEGINs share one round trip: a cut there leaves nothing behind anywhere.

accord sends every database's ``BEGIN`` before reading any reply. The
connection to one database is cut before that ``BEGIN`` reaches it, or after
the server ran it and before its reply came back: the block fails with the
driver's error, no database keeps a row of it, none holds a prepared branch,
and the next block on a fresh session commits on both.
"""

from __future__ import annotations

import pytest
from tpc_helpers import Worker, accord_prepared, item_ids, via_proxy

from accord.testing.databases import ScratchDatabase
from accord.testing.faults import FaultProxy

Pair = tuple[ScratchDatabase, ScratchDatabase]


@pytest.mark.parametrize("fault", ["cut_before", "cut_after"])
def test_a_cut_at_a_branch_s_begin_leaves_no_write_and_no_prepared_branch(
    pg_pair: Worker, postgres_databases: Pair, fault: str
) -> None:
    pg_pair.run("write", item_id=1)  # tables made, directly
    with FaultProxy(postgres_databases[1].port) as proxy:
        worker = via_proxy(pg_pair, "ledger", proxy.port)
        getattr(proxy, fault)(b"BEGIN")
        result = worker.run("write_catching", item_id=2)
        assert proxy.fired == 1
    assert "error" in result, result
    assert [item_ids(db) for db in postgres_databases] == [[1], [1]]
    assert [accord_prepared(db) for db in postgres_databases] == [[], []]
    assert pg_pair.run("write", item_id=3)["outcome"] == "committed"
    assert [item_ids(db) for db in postgres_databases] == [[1, 3], [1, 3]]
