"""The failover holes of issue 15, section 3, each reproduced on real servers.

Each test failed on the code before the fix, for the reason the issue names.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from accord.contrib.django.cache import RingCache
from accord.contrib.django.cache.config import parse_config
from accord.contrib.django.checks import check_cache_settings
from accord.core.hookspecs import hookimpl
from accord.testing.plugins import registered
from accord.testing.process import free_port
from accord.testing.servers import RedisServer

FAST = {"retry_after": 0.3, "socket_timeout": 0.3, "socket_connect_timeout": 0.3}
RING = "accord.contrib.django.cache.RingCache"


def _key_on(cache: RingCache, node: str, start: int = 0) -> str:
    ring = cache.topology().ring
    for i in range(start, start + 10_000):
        if ring.get_node(cache.make_key(f"k{i}")) == node:
            return f"k{i}"
    raise AssertionError(f"no key on {node}")


def _copies(url: str, cache: RingCache, key: str) -> list[bytes]:
    """Keys on *url* that hold a copy of *key* (the key itself or a stand-in copy of it)."""
    client = redis.Redis.from_url(url)
    return list(client.scan_iter(match=f"*{cache.make_key(key)}*"))


def _eject(cache: RingCache, key: str) -> None:
    cache.get(key)  # fails on the dead node; failure_threshold=1 ejects it


# -- 1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 3000])
def test_touch_keeps_the_fallback_timeout_cap_on_a_stand_in_copy(
    make_cache: Callable[..., RingCache],
    ring_servers: list[RedisServer],
    ring_urls: list[str],
    timeout: int | None,
) -> None:
    cache = make_cache(failover="eject", failure_threshold=1, fallback_timeout=60, **FAST)
    key = _key_on(cache, ring_urls[0])
    ring_servers[0].kill()
    _eject(cache, key)
    cache.set(key, "copy", timeout=None)
    assert cache.touch(key, timeout) is True
    stand_in = cache.topology().ring.get_nodes(cache.make_key(key), 2)[1]
    (copy,) = _copies(stand_in, cache, key)
    assert 0 < redis.Redis.from_url(stand_in).ttl(copy) <= 60


# -- 2 ------------------------------------------------------------------------------


def test_a_stand_in_write_racing_a_readmission_never_resurfaces(
    make_cache: Callable[..., RingCache],
    ring_servers: list[RedisServer],
    ring_urls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = make_cache(failover="eject", failure_threshold=1, **FAST)
    key = _key_on(cache, ring_urls[1])
    ring_servers[1].kill()
    _eject(cache, key)
    cache.set(key, "episode-1")
    router = cache._cache.router
    real = router.readmitted
    raced = []

    def racing(*args: object, **kwargs: object) -> object:
        # Another thread saw the node out a moment ago and writes to its stand-in now,
        # after the readmission deleted the copies it knew of and before it is in service.
        if not raced:
            raced.append(True)
            racer = threading.Thread(target=cache.set, args=(key, "racer"))
            racer.start()
            racer.join()
        return real(*args, **kwargs)

    monkeypatch.setattr(router, "readmitted", racing)
    ring_servers[1].start()
    time.sleep(0.4)
    cache.get(key)  # probes and readmits the node
    assert raced
    assert router.health[ring_urls[1]].stats()["state"] == "up"
    cache.set(key, "current")
    ring_servers[1].kill()
    _eject(cache, key)
    assert cache.get(key) != "racer"


# -- 3 ------------------------------------------------------------------------------


def test_no_process_serves_a_stand_in_copy_after_another_readmitted_the_node(
    ring_servers: list[RedisServer], ring_urls: list[str]
) -> None:
    # Two RingCaches built by hand share nothing, as two processes would.
    early = RingCache(ring_urls, {"OPTIONS": {"failover": "eject", "failure_threshold": 1, **FAST}})
    late_options = {**FAST, "retry_after": 30.0}
    late = RingCache(
        ring_urls, {"OPTIONS": {"failover": "eject", "failure_threshold": 1, **late_options}}
    )
    node = ring_urls[2]
    keys = [_key_on(early, node, start) for start in range(0, 4000, 200)]
    ring_servers[2].kill()
    for cache in (early, late):
        _eject(cache, keys[0])
    late.set_many(dict.fromkeys(keys, "stale"))  # copies on the stand-ins
    ring_servers[2].start()
    time.sleep(0.4)
    early.get(keys[0])  # early readmits the node (flushes it)
    early.set_many(dict.fromkeys(keys, "fresh"))
    deadline = time.monotonic() + 0.5
    stale = 0
    while time.monotonic() < deadline:
        stale += sum(value == "stale" for value in late.get_many(keys).values())
        stale += sum(late.get(key) == "stale" for key in keys[:3])
    assert stale == 0


# -- 4 ------------------------------------------------------------------------------

SECRET = "hunter2secret"


def test_a_password_in_the_url_query_never_shows(
    ring_urls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0?password={SECRET}"
    location = [ring_urls[0], dead]
    config = parse_config("default", location, {})
    shown: list[str] = [node.name for node in config.nodes] + [repr(config)]
    messages = check_cache_settings({"default": {"BACKEND": RING, "LOCATION": location}})
    shown += [f"{m.msg} {m.hint}" for m in messages]
    events: list[str] = []

    class Seen:
        @hookimpl
        def accord_node_ejected(self, source: str, node: str, error: BaseException) -> None:
            events.append(f"{source} {node} {error!r}")

    cache = RingCache(location, {"OPTIONS": {"failover": "eject", "failure_threshold": 1, **FAST}})
    with registered(Seen()), caplog.at_level(logging.WARNING, logger="accord.cache"):
        key = _key_on(cache, config.nodes[1].name)
        cache.get(key)
    shown += events + [r.getMessage() for r in caplog.records] + [repr(cache.node_stats())]
    assert events
    assert not [text for text in shown if SECRET in text]


def test_a_node_keeps_its_name_when_its_password_changes() -> None:
    first = parse_config("default", ["redis://10.0.0.1:6379/0?password=old-pw"], {}).nodes[0]
    second = parse_config("default", ["redis://10.0.0.1:6379/0?password=new-pw"], {}).nodes[0]
    assert first.name == second.name
    assert "pw" not in first.name


@pytest.mark.parametrize(
    "location",
    [
        f"redis://:se/{SECRET}@10.0.0.1:6379/0",
        f"redis://:se#{SECRET}@10.0.0.1:6379/0",
        {"url": f"redis://:{SECRET}@10.0.0.1:6379/0"},
        {f"redis://:{SECRET}@10.0.0.1:6379/0"},
    ],
)
def test_a_malformed_location_is_reported_without_its_password(location: object) -> None:
    messages = check_cache_settings(
        {"default": {"BACKEND": RING, "LOCATION": location}}, ping=False
    )
    text = " ".join(f"{m.msg} {m.hint}" for m in messages)
    assert SECRET not in text


# -- 5 ------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("weight", [100_000, 1e30])
def test_a_huge_weight_is_refused_at_once_with_the_bound(weight: float) -> None:
    location = [{"url": "redis://10.0.0.1:6379/0", "weight": weight}, "redis://10.0.0.2:6379/0"]
    started = time.monotonic()
    messages = check_cache_settings(
        {"default": {"BACKEND": RING, "LOCATION": location}}, ping=False
    )
    assert time.monotonic() - started < 5
    assert [m.id for m in messages] == ["accord.E012"]
    assert "points" in messages[0].msg


# -- 6 ------------------------------------------------------------------------------


@pytest.fixture
def not_redis() -> Iterator[int]:
    """A port that answers every connection with an HTTP error, as a web server would."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("policy", ["miss", "eject"])
def test_a_port_that_is_not_redis_is_a_node_failure(
    not_redis: int, ring_urls: list[str], policy: str
) -> None:
    location = [ring_urls[0], f"redis://127.0.0.1:{not_redis}/0"]
    cache = RingCache(location, {"OPTIONS": {"failover": policy, **FAST}})
    key = _key_on(cache, cache.topology().nodes[1].name)
    assert cache.get(key, "default") == "default"
    cache.set(key, 1)
    assert cache.node_stats()[cache.topology().nodes[1].name]["errors"] >= 2


# -- 7 ------------------------------------------------------------------------------

DRY_RUN = """
import django
from django.conf import settings
settings.configure(CACHES={"default": {"BACKEND": "%s", "LOCATION": %r}},
                   INSTALLED_APPS=["accord.contrib.django"])
django.setup()
from accord.core.hookspecs import hookimpl
from accord.core.plugins import get_plugin_manager
from django.core.management import call_command
events = []
class Seen:
    @hookimpl
    def accord_ring_changed(self, ring, added, removed):
        events.append((added, removed))
get_plugin_manager().register(Seen())
call_command("accord_ring", "--add", "redis://10.9.9.9:6379/0")
call_command("accord_ring", "--remove", %r)
print("EVENTS", events)
"""


def test_accord_ring_dry_runs_fire_no_ring_changed_hook(ring_urls: list[str]) -> None:
    script = DRY_RUN % (RING, ring_urls, ring_urls[0])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "EVENTS []" in run.stdout
    assert "would move about" in run.stdout
