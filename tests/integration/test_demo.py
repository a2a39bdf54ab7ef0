"""The README's first command: the demo runs to the end on real servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from accord.testing import RedisServer
from accord.testing.pytest_plugin import services

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_every_part_on_real_servers() -> None:
    with services():
        RedisServer().check_installed()
    result = subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped" not in result.stdout
    assert "moved" in result.stdout
