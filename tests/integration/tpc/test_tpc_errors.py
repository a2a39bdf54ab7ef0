"""Real refusals at prepare and real decision-log failures become accord's errors, causes chained.

Each test provokes the failure on a real server, then checks the error's type, its cause
(the driver's or kazoo's), that nothing was committed anywhere, and that no password
shows in anything that came out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tpc_helpers import Worker, accord_prepared, item_ids, query

from accord.testing.databases import ScratchDatabase
from accord.testing.postgres import PostgresServer
from accord.testing.pytest_plugin import services
from accord.testing.servers import ZooKeeperServer

Pair = tuple[ScratchDatabase, ScratchDatabase]
PASSWORD = "pa/ss#w0rd-secret"
QUOTED = "pa%2Fss%23w0rd-secret"


@pytest.fixture
def no_prepared_transactions() -> Iterator[Pair]:
    """Two scratch databases on a private PostgreSQL with ``max_prepared_transactions = 0``."""
    import psycopg

    server = PostgresServer(settings={"max_prepared_transactions": 0})
    try:
        with services():
            server.start()
        names = ["accord_noprep_a", "accord_noprep_b"]
        with psycopg.connect(server.url, autocommit=True) as admin:
            for name in names:
                admin.execute(f"CREATE DATABASE {name}")
        yield tuple(  # type: ignore[misc]
            ScratchDatabase("postgresql", name, server.host, server.port, "postgres", "")
            for name in names
        )
    finally:
        server.close()


def test_postgresql_refusing_prepare_transaction_is_prepare_failed_and_commits_nothing(
    no_prepared_transactions: Pair,
) -> None:
    first, second = no_prepared_transactions
    worker = Worker(
        {"default": first.django_settings(), "ledger": second.django_settings()},
        {"RECOVERY_DELAY": 0},
    )
    worker.needs_setup = True
    result = worker.run("write_reporting_error", item_id=1, aliases=["default", "ledger"])
    assert (result["error"], result["cause"]) == ("PrepareFailed", "OperationalError"), result
    assert "database 'ledger' refused to prepare" in result["message"]
    assert "prepared transactions are disabled" in result["message"]  # what PostgreSQL said
    assert result["cause_cause"] == "ObjectNotInPrerequisiteState"  # psycopg's, under Django's
    assert [item_ids(db) for db in no_prepared_transactions] == [[], []]
    assert query(first, "SELECT * FROM accord_tpc_decision") == []


def test_mariadb_refusing_xa_prepare_is_prepare_failed_and_commits_nothing(
    pg_maria: Worker, postgres_databases: Pair, mysql_database: ScratchDatabase
) -> None:
    result = pg_maria.run("deadlocked_xa_branch")
    assert "Deadlock" in result["deadlock"], result
    assert (result["error"], result["cause"]) == ("PrepareFailed", "OperationalError"), result
    assert "database 'maria' refused to prepare" in result["message"]
    assert "ROLLBACK ONLY" in result["message"]  # what MariaDB said
    assert item_ids(postgres_databases[0]) == []
    assert query(mysql_database, "SELECT id FROM tpc_testapp_item WHERE value <> 0") == []
    assert not accord_prepared(mysql_database)
    assert query(postgres_databases[0], "SELECT * FROM accord_tpc_decision") == []


def test_a_decision_log_database_refusing_the_decision_is_decision_log_error_after_rolling_back(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    # "logdb" is the ledger database under another alias: the log writes on its own session.
    worker = Worker(
        {**pg_pair.databases, "logdb": postgres_databases[1].django_settings()},
        {**(pg_pair.tpc or {}), "DECISION_LOG": "logdb"},
    )
    worker.needs_setup, pg_pair.needs_setup = pg_pair.needs_setup, False
    result = worker.run("log_database_read_only", item_id=1, aliases=["default", "ledger"])
    assert (result["error"], result["cause"]) == ("DecisionLogError", "InternalError"), result
    assert result["refused"] is True
    assert "database 'logdb'" in result["message"]
    assert "read-only transaction" in result["message"]  # what PostgreSQL said
    assert [item_ids(db) for db in postgres_databases] == [[], []]
    assert not any(accord_prepared(db) for db in postgres_databases)
    assert query(postgres_databases[1], "SELECT * FROM accord_tpc_decision") == []


@pytest.fixture
def guarded_zookeeper(zookeeper_server: ZooKeeperServer) -> Iterator[str]:
    """The ZooKeeper path /accord/tpc, readable and writable by alice (password "right") only."""
    from kazoo.client import KazooClient
    from kazoo.security import make_digest_acl

    client = KazooClient(
        hosts=zookeeper_server.hosts, timeout=5.0, auth_data=[("digest", "alice:right")]
    )
    client.start(timeout=10.0)
    try:
        acl = [make_digest_acl("alice", "right", all=True)]
        client.ensure_path("/accord/tpc", acl=acl)
        client.set_acls("/accord", acl)
        yield zookeeper_server.hosts
        client.delete("/accord", recursive=True)
    finally:
        client.stop()
        client.close()


def test_zookeeper_refusing_the_log_is_decision_log_error_with_kazoos_error_and_no_password(
    pg_pair: Worker, postgres_databases: Pair, guarded_zookeeper: str
) -> None:
    url = f"zookeeper://alice:{QUOTED}@{guarded_zookeeper}/accord/tpc"
    proc = pg_pair.with_tpc(DECISION_LOG=url).start(
        "write_reporting_error", item_id=1, aliases=["default", "ledger"]
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert '"error": "DecisionLogError"' in out, out
    assert '"cause": "NoAuthError"' in out, out
    assert "zookeeper://alice:***@" in out
    for secret in (PASSWORD, QUOTED, "w0rd-secret"):
        assert secret not in out + err
    assert [item_ids(db) for db in postgres_databases] == [[], []]


def _unreachable(password_form: str) -> dict[str, Any]:
    # Port 1 on loopback: nothing listens, so kazoo times out (after 1 s: the option).
    return {
        "DECISION_LOG": f"zookeeper://{password_form}127.0.0.1:1/accord/tpc",
        "DECISION_LOG_OPTIONS": {"timeout": 1},
    }


def test_an_unreachable_zookeeper_log_is_decision_log_error_and_commits_nothing(
    pg_pair: Worker, postgres_databases: Pair
) -> None:
    result = pg_pair.with_tpc(**_unreachable("")).run(
        "write_reporting_error", item_id=1, aliases=["default", "ledger"]
    )
    assert result["error"] == "DecisionLogError", result
    assert result["cause"].startswith("Kazoo"), result  # kazoo's timeout, chained
    assert "zookeeper://127.0.0.1:1/accord/tpc" in result["message"]
    assert [item_ids(db) for db in postgres_databases] == [[], []]


@pytest.mark.parametrize(
    ("form", "secret"),
    [
        (f"alice:{QUOTED}@", PASSWORD),
        ("alice:pa/ss@", "pa/ss"),
        ("alice:pa#ss-w0rd@", "ss-w0rd"),
    ],
    ids=["userinfo", "unescaped-slash", "unescaped-hash"],
)
def test_no_password_in_the_errors_logs_or_accord_recover_output(
    pg_pair: Worker, form: str, secret: str
) -> None:
    worker = pg_pair.with_tpc(**_unreachable(form))
    texts = []
    for scenario, kwargs in (
        ("write_reporting_error", {"item_id": 1, "aliases": ["default", "ledger"]}),
        ("manage", {"argv": ["accord_recover", "--watch", "--runs", "1", "--interval", "1"]}),
        ("manage", {"argv": ["accord_recover", "--list"]}),
    ):
        proc = worker.start(scenario, **kwargs)
        out, err = proc.communicate(timeout=60)
        texts.append(out + err)
    for command in texts[1:]:  # a message and exit status 1, not a traceback
        assert '"exit": 1' in command, command
        assert "DecisionLogError: " in command or "ConfigurationError: " in command, command
    for text in texts:
        assert secret not in text, text
        assert QUOTED not in text
