"""``accord lock URL NAME -- cmd``: exit codes and messages, on real backends."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from accord.core.lock import Lock, base
from accord.core.lock.backends.redis import holder_key
from accord.core.lock.cli import EXIT_BUSY, EXIT_LOST, EXIT_UNAVAILABLE
from accord.testing.servers import free_port

ACCORD = [
    sys.executable,
    "-c",
    "import sys; from accord.core.lock.cli import main; sys.exit(main())",
]


def accord(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ACCORD, *args], capture_output=True, text=True, timeout=60, **kwargs)


@pytest.fixture
def file_url(tmp_path: Path) -> str:
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
    import redis

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
