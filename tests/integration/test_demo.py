"""The README's first command: the demo tours the example shop on real servers.

Each test runs ``python -m examples.demo`` as a newcomer would, in a
subprocess, and checks what it says and what it leaves behind.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accord.testing import RedisServer, free_port, two_phase_postgres_url
from accord.testing.pytest_plugin import services

ROOT = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-m", "examples.demo"]


@pytest.fixture(scope="module")
def servers_present() -> None:
    """Skip (or fail, under ACCORD_REQUIRE_SERVICES=1) unless Redis and PostgreSQL are here.

    PostgreSQL is present when the default server can prepare transactions or
    a private cluster can be started, as the demo itself decides.
    """
    with services():
        RedisServer().check_installed()
        two_phase_postgres_url()


@pytest.fixture(scope="module")
def demo_run(servers_present: None) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(DEMO, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return result, time.monotonic() - started


def _ports(text: str) -> list[int]:
    found = re.search(r"redis-server processes on ports ([\d, ]+)", text)
    assert found, text
    return [int(p) for p in found.group(1).split(", ")]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _databases_left(out: str) -> set[str]:
    """The demo's scratch databases still on its PostgreSQL server (none if the server is gone)."""
    found = re.search(r"PostgreSQL databases (\S+), (\S+) on ([\d.]+):(\d+)", out)
    assert found, out
    first, second, host, port = found.groups()
    if not _port_open(int(port)):  # a private cluster, stopped and removed
        return set()
    import psycopg

    url = f"postgresql://postgres@{host}:{port}/postgres"
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", ([first, second],)
        ).fetchall()
    return {name for (name,) in rows}


def test_demo_exits_0_within_three_minutes(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    result, seconds = demo_run
    assert result.returncode == 0, result.stderr
    assert seconds < 180


def test_demo_ends_with_a_summary_of_all_five_parts(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    last = demo_run[0].stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"Summary: 5 of 5 parts ran \(1 RingCache, .*, 4 Metrics, 5 .*\) in \d+ s\.", last
    )
    assert "SKIPPED" not in demo_run[0].stdout


def test_demo_never_reconfigures_the_system_postgresql(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo_run[0].stdout
    assert "ALTER SYSTEM" not in out
    assert re.search(r"PostgreSQL: (a private cluster on port \d+|the server at )", out)


def test_demo_cache_keeps_answering_while_a_node_is_dead(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo_run[0].stdout
    assert re.search(r"Reading all 20,000 keys again: [\d,]+ hits, [\d,]+ misses, 0 errors", out)
    assert "=out" in out
    assert "1 ejection, 1 readmission" in out


def test_demo_shows_the_singleton_ran_once_per_key(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo_run[0].stdout
    assert "50 submissions, 5 runs: the task ran once per key." in out
    assert re.search(r"DuplicateTask \(not run\).*runs: 1, overlapping runs: 0", out)


def test_demo_recovery_makes_both_databases_agree_after_each_kill(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo_run[0].stdout
    assert "rolled back the branch on 'ledger'" in out
    assert "committed the branch on 'ledger'" in out
    assert "21 orders, 21 ledger entries (they agree)" in out
    assert "Both databases agree" in out


def test_demo_prints_the_metrics_of_the_tour_and_how_to_open_the_admin(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo_run[0].stdout
    assert re.search(
        r"accord_cache_node_state_changes_total\{cache=default,node=\d+/0,state=ejected\} 1", out
    )
    assert re.search(
        r"accord_tpc_in_doubt_resolved_total\{outcome=rolled back,database=ledger\} 1", out
    )
    assert "http://127.0.0.1:8000/admin/accord/operations/" in out


def test_demo_stops_its_servers_and_drops_its_databases(
    demo_run: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo_run[0].stdout
    assert not any(_port_open(port) for port in _ports(out))
    assert not _databases_left(out)


def _interrupt_at(marker: str) -> tuple[subprocess.Popen[str], str]:
    """Run the demo, press Ctrl-C when it prints *marker*; the process and all it printed."""
    proc = subprocess.Popen(DEMO, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=60)
    return proc, "".join(lines) + rest


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    """True once no process is left in process group *pgid* (the worker and its children)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_stops_everything_the_demo_started(servers_present: None) -> None:
    proc, out = _interrupt_at("Killing redis-2")  # mid-tour: servers and databases are up
    assert proc.returncode == 130, out
    assert "Interrupted: every server and process the demo started has been stopped" in out
    assert not any(_port_open(port) for port in _ports(out))
    assert not _databases_left(out)


def test_a_part_that_cannot_run_is_named_in_the_summary_and_exits_1(
    servers_present: None,
) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    env = {**os.environ, "ACCORD_DEMO_POSTGRES_URL": closed}
    result = subprocess.run(DEMO, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("Summary: 4 of 5 parts ran in "), last
    assert "NOT RUN: part 3: PostgreSQL is not available: cannot connect to" in last
    assert "0 errors" in result.stdout  # the parts that can run still do


def test_ctrl_c_while_the_worker_runs_stops_the_worker(servers_present: None) -> None:
    proc, out = _interrupt_at("Submitting 50 calls")
    assert proc.returncode == 130, out
    worker = re.search(r"The worker \(pid (\d+)\)", out)
    assert worker
    assert _group_gone(int(worker.group(1)))  # the worker leads its own process group
