"""Django's own cache test suite (``BaseCacheTests``) passes against RingCache.

Over three plain nodes, over a ring of Sentinel-group nodes, and over one
Redis Cluster.

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

from accord.testing.pytest_plugin import services
from accord.testing.redis_ha import RedisClusterGroup, SentinelGroup
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


def _run_suite(urls: list[str], out: Path) -> dict[str, dict[str, str]]:
    run = subprocess.run(
        [sys.executable, str(RUNNER), str(out), *urls],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results: dict[str, dict[str, str]] = json.loads(out.read_text())
    return results


@pytest.fixture(scope="module")
def outcomes(
    ring_session_servers: list[RedisServer], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, str]]:
    for server in ring_session_servers:
        server.start()
        server.flushall()
    urls = [f"{server.url}/0" for server in ring_session_servers]
    return _run_suite(urls, tmp_path_factory.mktemp("django-suite") / "results.json")


@pytest.fixture(scope="module")
def sentinel_outcomes(
    sentinel_group_session: SentinelGroup,
    ring_session_servers: list[RedisServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, dict[str, str]]:
    with services():
        sentinel_group_session.reset()
    plain = ring_session_servers[0]
    plain.start()
    plain.flushall()
    # Two ring nodes on the group (databases 0 and 1) and one plain server.
    urls = [sentinel_group_session.url(0), sentinel_group_session.url(1), f"{plain.url}/0"]
    return _run_suite(urls, tmp_path_factory.mktemp("django-suite-sentinel") / "results.json")


@pytest.fixture(scope="module")
def cluster_outcomes(
    redis_cluster_session: RedisClusterGroup, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, str]]:
    with services():
        redis_cluster_session.reset()
    out = tmp_path_factory.mktemp("django-suite-cluster") / "results.json"
    return _run_suite([redis_cluster_session.url()], out)


def _check(name: str, outcomes: dict[str, dict[str, str]]) -> None:
    assert name in outcomes, f"{name} did not run"
    expected = "skipped" if name in CULL_TESTS else "passed"
    result = outcomes[name]
    assert result["outcome"] == expected, result["detail"]


@pytest.mark.parametrize("name", NAMES)
def test_django_cache_test_passes_over_three_nodes(
    name: str, outcomes: dict[str, dict[str, str]]
) -> None:
    _check(name, outcomes)


@pytest.mark.parametrize("name", NAMES)
def test_django_cache_test_passes_over_a_sentinel_ring(
    name: str, sentinel_outcomes: dict[str, dict[str, str]]
) -> None:
    _check(name, sentinel_outcomes)


@pytest.mark.parametrize("name", NAMES)
def test_django_cache_test_passes_over_a_redis_cluster(
    name: str, cluster_outcomes: dict[str, dict[str, str]]
) -> None:
    _check(name, cluster_outcomes)


def test_django_suite_was_found_with_its_cull_tests() -> None:
    assert set(NAMES) >= CULL_TESTS
