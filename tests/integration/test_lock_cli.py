"""``accord lock URL NAME -- cmd``: exit codes and messages, on real backends."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from accord.cli import EXIT_BUSY, EXIT_LOST, EXIT_UNAVAILABLE
from accord.core.lock import Lock, base
from accord.core.lock.backends.redis import holder_key
from accord.testing.faults import FaultProxy
from accord.testing.servers import free_port

ACCORD = [
    sys.executable,
    "-c",
    "import sys; from accord.cli import main; sys.exit(main())",
]


def accord(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ACCORD, *args], capture_output=True, text=True, timeout=60, **kwargs)


@pytest.fixture
def file_url(tmp_path: Path) -> str:
    (tmp_path / "locks").mkdir()
    return f"file://{tmp_path / 'locks'}"


def test_the_command_runs_under_the_lock_and_its_exit_code_is_kept(file_url: str) -> None:
    result = accord("lock", file_url, "cron", "--", sys.executable, "-c", "raise SystemExit(7)")
    assert result.returncode == 7
    assert not Lock("cron", file_url).locked()


def test_a_busy_lock_exits_75_naming_it(file_url: str) -> None:
    with Lock("cron", file_url):
        result = accord("lock", file_url, "cron", "--timeout", "0.2", "--", "true")
    assert result.returncode == EXIT_BUSY
    assert "'cron'" in result.stderr
    assert "busy" in result.stderr
    base.clear_backend_cache()


def test_a_lost_lock_terminates_the_command_and_exits_76(redis_server: Any) -> None:
    url = f"{redis_server.url}/0"
    proc = subprocess.Popen(
        [*ACCORD, "lock", url, "cron", "--ttl", "0.6", "--", "sleep", "30"],
        stderr=subprocess.PIPE,
        text=True,
    )
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while not client.exists(holder_key("cron")) and time.monotonic() < deadline:
        time.sleep(0.02)
    client.delete(holder_key("cron"))
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == EXIT_LOST
    assert time.monotonic() - started < 2
    assert "lost lock 'cron'" in stderr


def test_an_unreachable_server_exits_69() -> None:
    result = accord("lock", f"redis://127.0.0.1:{free_port()}/0", "cron", "--", "true")
    assert result.returncode == EXIT_UNAVAILABLE
    assert "failed to acquire" in result.stderr


def test_a_bad_url_exits_2_with_the_accepted_forms() -> None:
    result = accord("lock", "etcd://x", "cron", "--", "true")
    assert result.returncode == 2
    assert "Built-in schemes" in result.stderr


def test_a_missing_command_exits_127(file_url: str) -> None:
    result = accord("lock", file_url, "cron", "--", "accord-no-such-command")
    assert result.returncode == 127


# -- issue 11, hole 11: the command never outlives its lock; errors are exit codes ----------


def alive(pid: int) -> bool:
    """True while *pid* runs (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def test_killing_accord_with_sigkill_kills_the_command(file_url: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen(
        [*ACCORD, "lock", file_url, "cron", "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"]
    )
    command = int(wait_for_file(pidfile))
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 2
    while alive(command) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(command)
    result = accord("lock", file_url, "cron", "--", "true")
    assert result.returncode == 0, result.stderr


def test_a_lost_lock_also_ends_what_the_command_started(redis_server: Any, tmp_path: Path) -> None:
    url = f"{redis_server.url}/0"
    pidfile = tmp_path / "pid"
    script = f"sleep 30 & echo $! > {pidfile}; wait"
    proc = subprocess.Popen(
        [*ACCORD, "lock", url, "cron", "--ttl", "0.6", "--grace", "1", "--", "sh", "-c", script],
        stdin=subprocess.DEVNULL,
    )
    background = int(wait_for_file(pidfile))
    try:
        redis.Redis.from_url(url).delete(holder_key("cron"))
        assert proc.wait(timeout=10) == EXIT_LOST
        deadline = time.monotonic() + 3
        while alive(background) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(background)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(background, signal.SIGKILL)


def test_the_usage_shows_the_command_and_every_exit_code() -> None:
    result = accord("lock", "--help")
    assert "-- COMMAND" in result.stdout
    for code in ("2", "69", "75", "76", "126", "127"):
        assert code in result.stdout


def test_a_command_that_is_not_executable_exits_126_without_a_traceback(
    file_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    result = accord("lock", file_url, "cron", "--", str(script))
    assert result.returncode == 126
    assert "not executable" in result.stderr
    assert "Traceback" not in result.stderr


def test_zookeeper_without_kazoo_names_the_extra_without_a_traceback() -> None:
    hide = "import sys; sys.modules['kazoo'] = sys.modules['kazoo.client'] = None; "
    code = hide + "from accord.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "lock", "zookeeper://127.0.0.1:2181", "cron", "--", "true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EXIT_UNAVAILABLE
    assert "accord[zookeeper]" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("ttl", ["0.0001", "1e30", "inf", "nan"])
def test_a_ttl_out_of_range_exits_2_naming_it(redis_server: Any, ttl: str) -> None:
    result = accord("lock", f"{redis_server.url}/0", "cron", "--ttl", ttl, "--", "true")
    assert result.returncode == 2, result.stderr
    assert "ttl=" in result.stderr


def test_a_failed_final_release_keeps_the_commands_exit_code(redis_server: Any) -> None:
    with FaultProxy(redis_server.port) as proxy:
        url = f"redis://{proxy.address}/0"
        proc = subprocess.Popen(
            [*ACCORD, "lock", url, "cron", "--", "sh", "-c", "sleep 1.5; exit 3"],
            stderr=subprocess.PIPE,
            text=True,
        )
        client = redis.Redis(port=redis_server.port)
        deadline = time.monotonic() + 10
        while not client.exists(holder_key("cron")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proxy.refuse()
        proxy.cut_all()
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3, stderr
    assert "release" in stderr
