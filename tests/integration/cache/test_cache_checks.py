"""System checks for RingCache settings, and ``manage.py accord_ring``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accord.contrib.django.checks import check_cache_settings
from accord.testing.process import free_port

RING = "accord.contrib.django.cache.RingCache"


def _ids(caches: dict[str, dict[str, object]], ping: bool = False) -> list[str]:
    return [message.id or "" for message in check_cache_settings(caches, ping=ping)]


@pytest.mark.parametrize(
    ("entry", "check_id"),
    [
        ({"LOCATION": 42}, "accord.E010"),
        ({"LOCATION": "http://x:1/0"}, "accord.E010"),
        ({"LOCATION": ["redis://a:1/0", "redis://a:1/0"]}, "accord.E011"),
        ({"LOCATION": [{"url": "redis://a:1/0", "weight": -2}]}, "accord.E012"),
        ({"LOCATION": "redis://a:1/0", "OPTIONS": {"nodez": 1}}, "accord.E013"),
        ({"LOCATION": "redis://a:1/0", "OPTIONS": {"failover": "pray"}}, "accord.E014"),
        ({"LOCATION": "redis://a:1/0", "OPTIONS": {"MAX_ENTRIES": 5}}, "accord.W011"),
    ],
)
def test_each_problem_has_its_check_id(entry: dict[str, object], check_id: str) -> None:
    assert _ids({"default": {"BACKEND": RING, **entry}}) == [check_id]


def test_valid_setting_and_other_backends_pass() -> None:
    caches = {
        "default": {"BACKEND": RING, "LOCATION": "redis://a:1/0;redis://b:1/0"},
        "other": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": 42},
    }
    assert _ids(caches) == []


def test_every_message_has_a_hint_and_no_password() -> None:
    entry = {"BACKEND": RING, "LOCATION": ["redis://:pw123@a:1/0", "redis://:pw123@a:1/0"]}
    (message,) = check_cache_settings({"default": entry}, ping=False)
    assert message.hint
    assert "pw123" not in f"{message.msg} {message.hint}"


def test_unreachable_node_is_only_a_warning(ring_urls: list[str]) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    entry = {"BACKEND": RING, "LOCATION": [ring_urls[0], dead]}
    assert _ids({"default": entry}, ping=True) == ["accord.W010"]


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://127.0.0.1:{port},127.0.0.1:{port}/mymaster/0",
        "redis+cluster://127.0.0.1:{port}",
    ],
)
def test_an_unreachable_sentinel_group_or_cluster_is_only_a_warning(url: str) -> None:
    entry = {"BACKEND": RING, "LOCATION": url.format(port=free_port())}
    assert _ids({"default": entry}, ping=True) == ["accord.W010"]


def _manage(location: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ACCORD_RING_LOCATION": location,
        "PYTHONPATH": str(Path(__file__).parent),
        "DJANGO_SETTINGS_MODULE": "ring_settings",
    }
    command = [sys.executable, "-m", "django", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_accord_ring_shows_each_node_with_share_keys_and_health(ring_urls: list[str]) -> None:
    import redis

    redis.Redis.from_url(ring_urls[0]).set("x", 1)
    result = _manage(";".join(ring_urls), "accord_ring")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["node", "weight", "share", "keys", "memory", "health"]
    assert [line.split()[0] for line in lines[1:4]] == ring_urls
    assert lines[1].split()[3] == "1"
    assert all(line.split()[-1] == "up" for line in lines[1:4])


def test_accord_ring_add_estimates_the_share_of_keys_moved(ring_urls: list[str]) -> None:
    result = _manage(";".join(ring_urls), "accord_ring", "--add", "redis://10.9.9.9:6379/0")
    assert result.returncode == 0, result.stderr
    share = float(result.stdout.rsplit("move about ", 1)[1].split("%")[0])
    assert 15 < share < 35  # ideal: 1/4 of the keys


def test_accord_ring_refuses_an_alias_that_is_not_a_ring(ring_urls: list[str]) -> None:
    result = _manage(";".join(ring_urls), "accord_ring", "local")
    assert result.returncode != 0
    assert "not a RingCache" in result.stderr


def test_manage_check_reports_the_warning_for_a_dead_node() -> None:
    result = _manage(f"redis://127.0.0.1:{free_port()}/0", "check")
    assert "accord.W010" in result.stderr + result.stdout
