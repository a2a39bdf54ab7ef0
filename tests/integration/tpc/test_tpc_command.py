"""``manage.py accord_recover``: exit status 1 means an operator should look, and only that.

Run as a shell runs it (``manage.py``, system checks included), so the exit
status is the one cron and monitoring see.
"""

from __future__ import annotations

from tpc_helpers import Worker, accord_prepared, via_proxy

from accord.testing.databases import ScratchDatabase
from accord.testing.faults import FaultProxy

Pair = tuple[ScratchDatabase, ScratchDatabase]


def test_a_transaction_still_in_flight_exits_0(pg_pair: Worker, postgres_databases: Pair) -> None:
    pg_pair.killed("write", crash_at="after-prepare-1", item_id=1)
    result = pg_pair.with_tpc(RECOVERY_DELAY=3600).run("manage", argv=["accord_recover"])
    assert result["exit"] == 0, result
    assert "in flight" in result["output"]
    assert len(accord_prepared(postgres_databases[1])) == 1


def test_an_unreachable_participant_exits_1(
    pg_maria: Worker, mysql_database: ScratchDatabase
) -> None:
    pg_maria.run("write", item_id=9, aliases=["default", "maria"])
    with FaultProxy(mysql_database.port) as proxy:
        proxy.refuse()
        result = via_proxy(pg_maria, "maria", proxy.port).run("manage", argv=["accord_recover"])
    assert result["exit"] == 1, result
    assert "'maria'" in result["errors"]
