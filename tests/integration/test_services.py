"""The real-server fixtures of accord.testing really serve: each one is used as a test would."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from accord.testing import (
    MySQLDatabase,
    PostgresDatabases,
    RedisServer,
    ScratchDatabase,
    ZooKeeperServer,
)


def test_redis_server_answers_ping_set_and_get(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    assert client.ping()
    client.set("greeting", "hello")
    assert client.get("greeting") == b"hello"


def test_redis_server_is_empty_at_the_start_of_each_test(redis_server: RedisServer) -> None:
    import redis

    assert redis.Redis.from_url(redis_server.url).dbsize() == 0


def test_redis_node_killed_mid_traffic_restarts_on_the_same_port(
    redis_nodes: Callable[..., list[RedisServer]],
) -> None:
    import redis

    (node,) = redis_nodes(1)
    port, old_pid = node.port, node.pid
    client = redis.Redis.from_url(node.url, socket_timeout=1)
    client.set("k", "v")

    node.kill()
    assert not node.running
    with pytest.raises(redis.ConnectionError):
        client.get("k")

    node.start()
    assert node.port == port
    assert node.pid != old_pid
    assert client.get("k") is None  # no persistence: a crash loses everything
    client.set("k", "again")
    assert client.get("k") == b"again"


def test_redis_nodes_starts_several_distinct_servers(
    redis_nodes: Callable[..., list[RedisServer]],
) -> None:
    nodes = redis_nodes(3)
    assert len({node.port for node in nodes}) == 3
    assert all(node.execute("PING") == b"+PONG\r\n" for node in nodes)


def test_redis_nodes_are_stopped_and_removed_when_closed() -> None:
    with RedisServer() as server:
        pid, workdir = server.pid, server.workdir
        assert pid is not None
    assert not server.running
    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_paused_redis_answers_nothing_until_resumed(
    redis_nodes: Callable[..., list[RedisServer]],
) -> None:
    (node,) = redis_nodes(1)
    node.pause()
    with pytest.raises(OSError):
        node.execute("PING", timeout=0.3)
    node.resume()
    assert node.execute("PING") == b"+PONG\r\n"


def test_a_server_that_exits_at_startup_reports_its_log() -> None:
    from accord.testing.errors import ServiceUnavailable

    server = RedisServer(extra_args=["--no-such-option", "1"])
    with pytest.raises(ServiceUnavailable, match="no-such-option"):
        server.start()
    server.close()


def test_zookeeper_server_answers_ruok_and_kazoo_creates_a_znode(
    zookeeper_server: ZooKeeperServer,
) -> None:
    from kazoo.client import KazooClient

    assert zookeeper_server.four_letter_word("ruok") == "imok"
    client = KazooClient(hosts=zookeeper_server.hosts, timeout=5)
    client.start(timeout=10)
    try:
        client.create("/accord/smoke", b"data", makepath=True)
        assert client.get("/accord/smoke")[0] == b"data"
    finally:
        client.stop()
        client.close()


def test_zookeeper_server_is_empty_at_the_start_of_each_test(
    zookeeper_server: ZooKeeperServer,
) -> None:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zookeeper_server.hosts, timeout=5)
    client.start(timeout=10)
    try:
        assert client.get_children("/") == ["zookeeper"]
    finally:
        client.stop()
        client.close()


def test_zookeeper_killed_restarts_on_the_same_port_with_its_data(
    zookeeper_server: ZooKeeperServer,
) -> None:
    from kazoo.client import KazooClient

    port = zookeeper_server.port
    client = KazooClient(hosts=zookeeper_server.hosts, timeout=5)
    client.start(timeout=10)
    client.create("/kept", b"1")
    client.stop()
    client.close()

    zookeeper_server.restart(kill=True)
    assert zookeeper_server.port == port
    client = KazooClient(hosts=zookeeper_server.hosts, timeout=5)
    client.start(timeout=10)
    try:
        assert client.exists("/kept")
    finally:
        client.stop()
        client.close()


def test_zookeeper_session_server_runs_in_its_own_process_group(
    zookeeper_server: ZooKeeperServer,
) -> None:
    assert zookeeper_server.pid is not None
    assert os.getpgid(zookeeper_server.pid) == zookeeper_server.pid != os.getpgid(0)


def test_postgres_databases_each_prepare_and_commit_a_transaction(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
) -> None:
    import psycopg

    first, second = postgres_databases
    assert first.name != second.name
    for db in postgres_databases:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
        with psycopg.connect(db.url) as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute(f"PREPARE TRANSACTION 'accord-{db.name}'")
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f"COMMIT PREPARED 'accord-{db.name}'")
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_postgres_databases_are_empty_at_the_start_of_each_test(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase],
) -> None:
    import psycopg

    for db in postgres_databases:
        with psycopg.connect(db.url) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
            assert tables == (0,)


def test_postgres_drop_rolls_back_what_was_left_prepared() -> None:
    import psycopg

    with PostgresDatabases(1) as scratch:
        (db,) = scratch.databases
        with psycopg.connect(db.url) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("PREPARE TRANSACTION 'accord-left-over'")
    with psycopg.connect(scratch.admin_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (db.name,)
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'accord-left-over'"
        ).fetchone() == (0,)


def test_mysql_database_runs_an_xa_transaction(mysql_database: ScratchDatabase) -> None:
    import MySQLdb

    db = mysql_database
    conn = MySQLdb.connect(host=db.host, port=db.port, user=db.user, password=db.password)
    try:
        cursor = conn.cursor()
        cursor.execute(f"USE `{db.name}`")
        cursor.execute("CREATE TABLE t (x int) ENGINE=InnoDB")
        cursor.execute("XA START 'accord-smoke'")
        cursor.execute("INSERT INTO t VALUES (1)")
        cursor.execute("XA END 'accord-smoke'")
        cursor.execute("XA PREPARE 'accord-smoke'")
        cursor.execute("XA COMMIT 'accord-smoke'")
        cursor.execute("SELECT x FROM t")
        assert cursor.fetchall() == ((1,),)
    finally:
        conn.close()


def _prepare_xa_branch(db: ScratchDatabase, gtrid: str) -> Any:
    """A connection to *db* owning a prepared XA branch *gtrid* (left connected)."""
    import MySQLdb

    conn = MySQLdb.connect(host=db.host, port=db.port, user=db.user, password=db.password)
    cursor = conn.cursor()
    cursor.execute(f"USE `{db.name}`")
    cursor.execute("CREATE TABLE IF NOT EXISTS t (x int) ENGINE=InnoDB")
    cursor.execute(f"XA START '{gtrid}'")
    cursor.execute("INSERT INTO t VALUES (1)")
    cursor.execute(f"XA END '{gtrid}'")
    cursor.execute(f"XA PREPARE '{gtrid}'")
    return conn


def _xa_gtrids(db: ScratchDatabase) -> list[bytes]:
    import MySQLdb

    admin = MySQLdb.connect(host=db.host, port=db.port, user=db.user, password=db.password)
    try:
        cursor = admin.cursor()
        cursor.execute("XA RECOVER")
        return [bytes(row[3])[: int(row[1])] for row in cursor.fetchall()]
    finally:
        admin.close()


def test_mysql_drop_rolls_back_branches_left_prepared() -> None:
    import MySQLdb

    scratch = MySQLDatabase()
    db = scratch.create()
    # The owner stays connected: drop() must end its session before XA ROLLBACK works.
    _prepare_xa_branch(db, f"{db.node}-left-over")
    scratch.drop()
    assert f"{db.node}-left-over".encode() not in _xa_gtrids(db)
    admin = MySQLdb.connect(host=db.host, port=db.port, user=db.user, password=db.password)
    try:
        check = admin.cursor()
        check.execute("SHOW DATABASES LIKE %s", (db.name,))
        assert check.fetchall() == ()
    finally:
        admin.close()


def test_mysql_cleanup_leaves_another_test_runs_branches_alone() -> None:
    mine, theirs = MySQLDatabase(), MySQLDatabase()
    mine.create()
    other = theirs.create()
    try:
        # Prepared after mine.create(), as a concurrent run's branch would be.
        owner = _prepare_xa_branch(other, f"accord:{other.node}:{'0' * 32}")
        owner.close()  # detached: anyone could XA ROLLBACK it now
        mine.reset()
        mine.drop()
        assert f"accord:{other.node}:{'0' * 32}".encode() in _xa_gtrids(other)
    finally:
        mine.drop()
        theirs.drop()
    assert f"accord:{other.node}:{'0' * 32}".encode() not in _xa_gtrids(other)


def test_amqp_broker_url_accepts_a_kombu_connection(amqp_broker_url: str) -> None:
    from kombu import Connection

    with Connection(amqp_broker_url, connect_timeout=5) as conn:
        conn.connect()
        assert conn.connected


def test_redis_broker_url_accepts_a_kombu_connection(redis_broker_url: str) -> None:
    from kombu import Connection

    with Connection(redis_broker_url, connect_timeout=5) as conn:
        conn.connect()
        with conn.SimpleQueue("accord-smoke") as queue:
            queue.put({"hello": "world"})
            assert queue.get(timeout=5).payload == {"hello": "world"}


def test_servers_die_with_a_test_process_killed_by_sigkill(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "from accord.testing import RedisServer; import sys, time\n"
        "s = RedisServer(workdir=sys.argv[1]).start(); print(s.pid, flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    server_pid = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(server_pid, signal.SIGKILL)
    pytest.fail(f"redis-server {server_pid} outlived its SIGKILLed parent")


def test_free_port_can_be_bound() -> None:
    from accord.testing import free_port

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))


def test_a_server_moves_to_another_free_port_when_its_port_was_taken() -> None:
    server = RedisServer()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        taken = server.port
        with server:
            assert server.port != taken
            assert server.execute("PING") == b"+PONG\r\n"


def test_a_server_on_a_requested_port_that_is_taken_is_unavailable() -> None:
    from accord.testing import free_port
    from accord.testing.errors import ServiceUnavailable

    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        server = RedisServer(port)
        with pytest.raises(ServiceUnavailable, match=f"{port} is already in use"):
            server.start()
        server.close()


def test_a_zookeeper_restarted_without_its_data_has_no_znodes(zookeeper_server: Any) -> None:
    from kazoo.client import KazooClient

    def client() -> Any:
        made = KazooClient(hosts=zookeeper_server.hosts)
        made.start(timeout=10)
        return made

    first = client()
    first.ensure_path("/kept-or-not")
    first.stop()
    first.close()
    zookeeper_server.kill()
    zookeeper_server.wipe_data()
    zookeeper_server.start()
    second = client()
    try:
        assert second.exists("/kept-or-not") is None
    finally:
        second.stop()
        second.close()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_paused_stops_a_process_for_the_block_and_lets_it_run_after() -> None:
    import subprocess

    from accord.testing.process import paused

    proc = subprocess.Popen(["sleep", "30"])
    try:
        started = time.monotonic()
        with paused(proc.pid, 0.3):
            assert _state(proc.pid) == "T"
        assert time.monotonic() - started >= 0.3
        assert _state(proc.pid) != "T"
    finally:
        proc.kill()
        proc.wait()
