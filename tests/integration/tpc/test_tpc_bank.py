"""The bank test: random transfers between PostgreSQL and MariaDB accounts under random SIGKILLs.

With ``tpc.atomic`` the total is exactly conserved after recovery; the
negative control (two plain commits one after the other, same kills) loses
or creates money, which shows the test can fail. Two variants make recovery's
life harder: two deployments (same NODE, each its own log) sharing the
MariaDB server and recovering at the same time, and a MariaDB that recovery
reaches through a proxy that refuses and cuts connections while old decision
records are being purged.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from tpc_helpers import Worker, accord_prepared, deployment, query, via_proxy

from accord.testing.databases import ScratchDatabase
from accord.testing.faults import FaultProxy

ALIASES = ["default", "maria"]
ACCOUNTS, BALANCE = 10, 1000
TOTAL = 2 * ACCOUNTS * BALANCE
DONE = {"committed", "rolled back", "already resolved"}


def _bank(pg_maria: Worker, **tpc: Any) -> Worker:
    databases = dict(pg_maria.databases)
    databases["default"] = {**databases["default"], "OPTIONS": {"options": "-c lock_timeout=1000"}}
    databases["maria"] = {
        **databases["maria"],
        "OPTIONS": {"init_command": "SET SESSION innodb_lock_wait_timeout = 1"},
    }
    worker = Worker(databases, {**pg_maria.tpc, "RECOVERY_DELAY": 1, **tpc})
    worker.needs_setup = pg_maria.needs_setup
    pg_maria.needs_setup = False
    worker.run("bank_accounts", aliases=ALIASES, count=ACCOUNTS, balance=BALANCE)
    return worker


def _total(dbs: list[ScratchDatabase]) -> int:
    return sum(int(query(db, "SELECT SUM(balance) FROM tpc_testapp_account")[0][0]) for db in dbs)


def _run_with_kills(
    worker: Worker,
    plain: bool,
    seconds: float,
    seed: int,
    recovery: Worker | None = None,
    every: Callable[[random.Random], None] | None = None,
) -> int:
    """Run 3 transfer processes for *seconds*, SIGKILLing one at random every ~0.3 s.

    Recovery runs every second through *recovery* (default: *worker*);
    *every* is called at each step (to flap a proxy).
    """
    rng = random.Random(seed)
    args: dict[str, Any] = {"aliases": ALIASES, "count": ACCOUNTS, "seconds": 60, "plain": plain}
    procs = [(worker.start("bank_worker", seed=n, **args), time.monotonic()) for n in range(3)]
    recoveries: list[subprocess.Popen[str]] = []
    kills, deadline, next_recovery = 0, time.monotonic() + seconds, time.monotonic() + 1
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.15, 0.45))
        if every is not None:
            every(rng)
        n = rng.randrange(len(procs))
        proc, started = procs[n]
        if time.monotonic() - started > 0.7:  # past Django's start-up: mid-transfer
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            kills += 1
            procs[n] = (
                worker.start("bank_worker", seed=rng.randrange(10**6), **args),
                time.monotonic(),
            )
        if not plain and time.monotonic() > next_recovery:
            # frees rows a dead worker left locked
            recoveries.append((recovery or worker).start("recover"))
            next_recovery = time.monotonic() + 1
    for proc, _ in procs:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    for recovery in recoveries:
        recovery.communicate(timeout=60)
    return kills


@pytest.mark.slow
def test_total_is_conserved_across_random_kills(
    pg_maria: Worker,
    postgres_databases: tuple[ScratchDatabase, ...],
    mysql_database: ScratchDatabase,
) -> None:
    worker = _bank(pg_maria)
    kills = _run_with_kills(worker, plain=False, seconds=6, seed=1)
    time.sleep(1.1)  # past the recovery delay of the last killed worker's branches
    report = worker.run("recover")
    assert not [r for r in report["resolutions"] if r["action"] not in DONE], report
    dbs = [postgres_databases[0], mysql_database]
    assert kills >= 5
    balances = query(dbs[0], "SELECT balance FROM tpc_testapp_account")
    assert any(b != BALANCE for (b,) in balances), "no transfer happened"
    assert _total(dbs) == TOTAL
    assert not any(accord_prepared(db) for db in dbs)


@pytest.mark.slow
def test_negative_control_plain_commits_lose_money_under_the_same_kills(
    pg_maria: Worker,
    postgres_databases: tuple[ScratchDatabase, ...],
    mysql_database: ScratchDatabase,
) -> None:
    worker = _bank(pg_maria)
    dbs = [postgres_databases[0], mysql_database]
    for seed in range(1, 6):  # a kill must land between the two commits at least once
        _run_with_kills(worker, plain=True, seconds=3, seed=seed)
        if _total(dbs) != TOTAL:
            break
    assert _total(dbs) != TOTAL


def _settle(worker: Worker, dbs: list[ScratchDatabase]) -> dict[str, Any]:
    """Recover until nothing of *worker* is left in doubt; the last report."""
    time.sleep(1.1)  # past the recovery delay of the last killed worker's branches
    report = worker.run("recover")
    if [r for r in report["resolutions"] if r["action"] == "in flight"]:
        time.sleep(1.1)  # MariaDB branches are aged from when recovery first saw them
        report = worker.run("recover")
    return report


@pytest.mark.slow
def test_total_is_conserved_for_two_deployments_sharing_the_mariadb_server(
    postgres_databases: tuple[ScratchDatabase, ...],
    mysql_database: ScratchDatabase,
    second_mysql_database: ScratchDatabase,
) -> None:
    node = mysql_database.node  # the same NODE in both deployments
    a = _bank(deployment(postgres_databases[0], mysql_database, NODE=node))
    b = _bank(deployment(postgres_databases[1], second_mysql_database, NODE=node))
    kills: dict[str, int] = {}
    runs = [
        threading.Thread(target=lambda w=w, n=n: kills.update({n: _run_with_kills(w, False, 6, 7)}))
        for n, w in (("a", a), ("b", b))
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    for worker, dbs in (
        (a, [postgres_databases[0], mysql_database]),
        (b, [postgres_databases[1], second_mysql_database]),
    ):
        report = _settle(worker, dbs)
        assert not [r for r in report["resolutions"] if r["action"] not in DONE], report
        assert _total(dbs) == TOTAL
        assert not any(accord_prepared(db) for db in dbs[:1])
    assert min(kills.values()) >= 3
    assert not accord_prepared(mysql_database)  # XA RECOVER is server-wide: both are clear


@pytest.mark.slow
def test_total_is_conserved_while_recovery_loses_mariadb_and_purges(
    pg_maria: Worker,
    postgres_databases: tuple[ScratchDatabase, ...],
    mysql_database: ScratchDatabase,
) -> None:
    worker = _bank(pg_maria, RECOVERY_DELAY=0.5, DECISION_RETENTION=5)
    dbs = [postgres_databases[0], mysql_database]
    with FaultProxy(mysql_database.port) as proxy:
        recovery = via_proxy(worker, "maria", proxy.port)
        lost_until = time.monotonic() + 7  # longer than the retention: records age meanwhile

        def flap(rng: random.Random) -> None:
            # Unreachable for recovery at first, then half of the time ...
            proxy.refuse(time.monotonic() < lost_until or rng.random() < 0.5)
            if rng.random() < 0.3:
                proxy.cut_all()  # ... and its connection lost mid-run now and then

        kills = _run_with_kills(worker, False, 11, 3, recovery=recovery, every=flap)
        proxy.heal()
        report = _settle(recovery, dbs)
    assert kills >= 5
    assert not [r for r in report["resolutions"] if r["action"] not in DONE], report
    assert _total(dbs) == TOTAL
    assert not any(accord_prepared(db) for db in dbs)
