"""Django's own cache test suite (``BaseCacheTests``) passes against RingCache over 3 nodes.

The suite runs once per session in a subprocess (``django_suite.py``, which
fetches Django's test sources for the installed version); each of its tests
is then one test here, so a failure names Django's test. The three cull tests
are skipped by Django's suite itself, because the cull caches are excluded
as Django excludes them for its own RedisCache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accord.testing.servers import RedisServer

RUNNER = Path(__file__).with_name("django_suite.py")
CULL_TESTS = {"test_cull", "test_zero_cull", "test_cull_delete_when_store_empty"}


def _names() -> list[str]:
    try:
        listing = subprocess.run(
            [sys.executable, str(RUNNER), "--list"],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    except (subprocess.SubprocessError, OSError):
        return ["(Django's test sources could not be fetched)"]
    return listing.stdout.split()


NAMES = _names()


@pytest.fixture(scope="module")
def outcomes(
    ring_session_servers: list[RedisServer], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, str]]:
    for server in ring_session_servers:
        server.start()
        server.flushall()
    out = tmp_path_factory.mktemp("django-suite") / "results.json"
    urls = [f"{server.url}/0" for server in ring_session_servers]
    run = subprocess.run(
        [sys.executable, str(RUNNER), str(out), *urls],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results: dict[str, dict[str, str]] = json.loads(out.read_text())
    return results


@pytest.mark.parametrize("name", NAMES)
def test_django_cache_test_passes_over_three_nodes(
    name: str, outcomes: dict[str, dict[str, str]]
) -> None:
    assert name in outcomes, f"{name} did not run"
    expected = "skipped" if name in CULL_TESTS else "passed"
    result = outcomes[name]
    assert result["outcome"] == expected, result["detail"]


def test_django_suite_was_found_with_its_cull_tests() -> None:
    assert set(NAMES) >= CULL_TESTS
