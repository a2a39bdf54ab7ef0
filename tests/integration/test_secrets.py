"""Passwords never come out: every public entry point that takes a URL, fed a password in
each accepted form, shows it in no exception, log line, repr, command output, check
message, hook argument or Celery result.

Each URL form (:func:`secrets_probe.password_forms`: the user information with and without
a user, ``?password=``, ``?sentinel_password=``, unescaped ``/``, ``#``, ``@`` and ``?``,
URL-encoded) goes to a real server that requires that password, to a free loopback port
(nothing listens: a real connection refusal), with a bad option and with a bad path. The
Django entry points (system checks, ``accord_ring``, ``accord_recover``, the cache calls,
``node_stats()``, the admin operations pages) run in a process of their own
(``secrets_probe.py``), which prints everything that came out.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from secrets_probe import (
    MARK,
    PASSWORD,
    Recorder,
    captured_logs,
    leaks,
    password_forms,
    recording_plugin,
    shown,
)

from accord.core.lock import AsyncLock, Lock, base, get_backend
from accord.core.lock.listing import list_holders
from accord.core.plugins import reset_plugin_manager
from accord.testing.plugins import registered
from accord.testing.process import free_port
from accord.testing.pytest_plugin import services
from accord.testing.servers import RedisServer, ZooKeeperServer

HERE = Path(__file__).resolve().parent
ACCORD_CLI = str(Path(sys.executable).parent / "accord")


# ---------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def redis_with_password() -> Iterator[RedisServer]:
    """A Redis server that requires :data:`PASSWORD` (``requirepass``)."""
    server = RedisServer()
    with services():
        server.start()
    # Set after start: the readiness probe of RedisServer does not authenticate.
    assert server.execute("CONFIG", "SET", "requirepass", PASSWORD).startswith(b"+OK")
    yield server
    server.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A plugin that records every observer hook's arguments, registered for the test."""
    reset_plugin_manager()
    plugin = recording_plugin()
    with registered(plugin, "secrets-recorder"):
        yield plugin
    reset_plugin_manager()


@pytest.fixture(autouse=True)
def fresh_backends() -> Iterator[None]:
    base.clear_backend_cache()
    yield
    base.clear_backend_cache()


class Outputs:
    """Everything an entry point showed: texts, exceptions, logs, hook arguments."""

    def __init__(self, recorder: Recorder, logs: Any) -> None:
        self.recorder, self.logs, self.texts = recorder, logs, []  # type: list[str]
        self.errors = 0

    def run(self, what: str, call: Callable[[], object]) -> None:
        try:
            self.texts.append(f"{what}: {call()!r}")
        except Exception as exc:
            self.errors += 1
            self.texts.append(f"{what} raised: {shown(exc)}")

    def text(self) -> str:
        return "\n".join([*self.texts, self.logs.getvalue(), self.recorder.text()])

    def assert_no_password(self) -> None:
        text = self.text()
        assert not leaks(text), f"a password came out:\n{text}"


@pytest.fixture
def outputs(recorder: Recorder) -> Iterator[Outputs]:
    with captured_logs() as logs:
        yield Outputs(recorder, logs)


# ------------------------------------------------------------------ URLs to feed


def _targets(
    redis: RedisServer, zookeeper: ZooKeeperServer | None = None
) -> dict[str, dict[str, str]]:
    """URLs by target kind, then by form: real servers and a free (refusing) port."""
    dead = f"127.0.0.1:{free_port()}"
    targets = {
        "redis-real": password_forms("redis", f"{redis.host}:{redis.port}", "/0"),
        "redis-refused": password_forms("redis", dead, "/0"),
        "rediss-refused": password_forms("rediss", dead, "/0"),
        "sentinel-refused": password_forms("redis+sentinel", f"{dead},{dead}", "/mymaster/0"),
        "unix-refused": password_forms("unix", "", f"/tmp/accord-no-such-{uuid.uuid4().hex}.sock"),
        "zookeeper-refused": password_forms("zookeeper", dead, "/app"),
    }
    if zookeeper is not None:
        targets["zookeeper-real"] = password_forms("zookeeper", zookeeper.hosts, "/app")
    return targets


def _bad_path(url: str) -> str:
    """*url* with a path accord refuses (a database that is not a number, no Sentinel
    service, a ZooKeeper query)."""
    if url.startswith("zookeeper"):
        return url + "?chroot=no"
    if "+sentinel" in url:
        return url.replace("/mymaster/0", "/")
    return url.replace("/0", "/zero", 1)


LOCK_KINDS = [
    "redis-real",
    "redis-refused",
    "rediss-refused",
    "sentinel-refused",
    "unix-refused",
    "zookeeper-refused",
    "zookeeper-real",
]


@pytest.fixture
def urls(
    request: pytest.FixtureRequest, redis_with_password: RedisServer
) -> Callable[[str], dict[str, str]]:
    def for_kind(kind: str) -> dict[str, str]:
        zookeeper = request.getfixturevalue("zookeeper_server") if "zookeeper" in kind else None
        return _targets(redis_with_password, zookeeper)[kind]

    return for_kind


# ------------------------------------------------------------------------- the lock


def _use_lock(outputs: Outputs, url: str, *, acquire: bool = True) -> None:
    def acquire_and_release() -> str:
        lock = Lock(f"secrets-{uuid.uuid4().hex}", url, timeout=0.5, options={"connect_timeout": 1})
        shown_before = repr(lock)
        with lock:
            return f"{shown_before} {lock!r} {lock.backend.url}"

    async def async_acquire_and_release() -> str:
        lock = AsyncLock(
            f"secrets-{uuid.uuid4().hex}", url, timeout=0.5, options={"connect_timeout": 1}
        )
        async with lock:
            return f"{lock!r}"

    if acquire:
        outputs.run("Lock", acquire_and_release)
        outputs.run("AsyncLock", lambda: asyncio.run(async_acquire_and_release()))
    else:
        outputs.run("Lock", lambda: repr(Lock("secrets", url)))
    outputs.run("get_backend", lambda: (lambda b: f"{b!r} {b.url}")(get_backend(url)))
    if acquire:
        outputs.run(
            "Lock.locked", lambda: Lock("secrets", url, options={"connect_timeout": 1}).locked()
        )
        outputs.run("list_holders", lambda: list_holders(url))


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_lock_shows_no_password_whatever_the_url_form(
    kind: str, urls: Callable[[str], dict[str, str]], outputs: Outputs
) -> None:
    for form, url in urls(kind).items():
        # A refused Sentinel costs redis-py's retries (seconds): one form goes to the server.
        _use_lock(outputs, url, acquire=not kind.startswith("sentinel") or form == "userinfo")
    outputs.assert_no_password()
    assert outputs.recorder.calls or outputs.errors  # something came out to look at


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_lock_with_a_bad_path_shows_no_password(
    kind: str, urls: Callable[[str], dict[str, str]], outputs: Outputs
) -> None:
    for url in urls(kind).values():
        outputs.run("Lock", lambda url=url: Lock("secrets", _bad_path(url)))
        outputs.run("get_backend", lambda url=url: get_backend(_bad_path(url)))
    outputs.assert_no_password()
    assert outputs.errors


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_lock_with_a_bad_option_shows_no_password(
    kind: str, urls: Callable[[str], dict[str, str]], outputs: Outputs
) -> None:
    for url in urls(kind).values():
        outputs.run(
            "unknown option", lambda url=url: Lock("secrets", url, options={"colour": "red"})
        )
        outputs.run(
            "bad value", lambda url=url: Lock("secrets", url, options={"connect_timeout": -1})
        )
        outputs.run(
            "url and backend",
            lambda url=url: Lock("secrets", url, backend=get_backend("memory://")),
        )
    outputs.assert_no_password()
    assert outputs.errors


def test_a_url_of_no_known_scheme_shows_no_password(outputs: Outputs) -> None:
    for url in (f"nosuch://:{PASSWORD}@host/0", f"//:{PASSWORD}@host", f"memory://:{PASSWORD}@x"):
        outputs.run("Lock", lambda url=url: repr(Lock("secrets", url)))
    outputs.assert_no_password()
    assert outputs.errors


# ----------------------------------------------------------------- the command line


def _accord_cli(*args: str) -> str:
    result = subprocess.run(
        [ACCORD_CLI, *args], capture_output=True, text=True, timeout=60, check=False
    )
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("kind", ["redis-real", "redis-refused", "zookeeper-refused"])
def test_the_accord_command_shows_no_password(
    kind: str, urls: Callable[[str], dict[str, str]]
) -> None:
    outputs = []
    for url in urls(kind).values():
        outputs.append(_accord_cli("lock", url, "secrets", "--timeout", "0.5", "--", "true"))
        outputs.append(_accord_cli("lock", _bad_path(url), "secrets", "--", "true"))
        outputs.append(_accord_cli("lock", url, "secrets", "--ttl", "-1", "--", "true"))
        outputs.append(_accord_cli("lock", url, "secrets"))  # no command
    text = "\n".join(outputs)
    assert not leaks(text), text
    assert "accord lock:" in text


# ---------------------------------------------------------------- Django (a process)


def _probe(config: dict[str, Any]) -> str:
    env = {**os.environ, "ACCORD_SECRETS_PROBE": json.dumps(config)}
    result = subprocess.run(
        [sys.executable, str(HERE / "secrets_probe.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


CACHE_STEPS = [
    "checks",
    "accord_ring",
    "accord_ring_add",
    "accord_ring_remove",
    "cache_calls",
    "admin_pages",
]
FAST = {"failover": "eject", "failure_threshold": 1, "socket_timeout": 0.5}


@pytest.mark.parametrize(
    "kind", ["redis-real", "redis-refused", "rediss-refused", "unix-refused", "sentinel-refused"]
)
def test_ring_cache_shows_no_password(kind: str, urls: Callable[[str], dict[str, str]]) -> None:
    # One alias per form: a form the cache refuses does not hide the others.
    caches = {
        form.replace("-", "_"): {"LOCATION": [url], "OPTIONS": FAST}
        for form, url in urls(kind).items()
    }
    # A refused Sentinel costs redis-py's retries (seconds per call): its checks suffice.
    steps = ["checks", "accord_ring"] if kind.startswith("sentinel") else CACHE_STEPS
    output = _probe({"caches": caches, "steps": steps})
    assert not leaks(output), output
    assert f"DONE {steps[-1]}" in output


def test_ring_cache_with_several_nodes_and_options_passwords_shows_no_password(
    urls: Callable[[str], dict[str, str]], redis_with_password: RedisServer
) -> None:
    real, refused = urls("redis-real"), urls("redis-refused")
    location = [
        real["userinfo"],
        real["query"].replace("/0", "/1"),
        {"url": f"{redis_with_password.url}/2", "password": PASSWORD},
        refused["user-and-password"],
        refused["url-encoded"].replace("/0", "/1"),
    ]
    caches = {"ring": {"LOCATION": location, "OPTIONS": {**FAST, "password": PASSWORD}}}
    output = _probe({"caches": caches, "steps": CACHE_STEPS})
    assert not leaks(output), output
    assert "accord.W010" in output  # the refused nodes were pinged, and named
    assert "node_failed" in output or "node_ejected" in output  # hooks were called


@pytest.mark.parametrize("form", ["userinfo", "user-and-password", "unescaped-slash"])
def test_the_admin_lock_listing_shows_no_password(
    form: str, urls: Callable[[str], dict[str, str]]
) -> None:
    lock_urls = [urls("redis-real")[form], urls("redis-refused")[form]]
    output = _probe({"lock_urls": lock_urls, "steps": ["checks", "admin_pages"]})
    assert not leaks(output), output
    assert "PAGE locks/ 200" in output


# ------------------------------------------------------------ the 2PC decision log


def _tpc_probe(kind: str, urls: Callable[[str], dict[str, str]], databases: Any) -> str:
    # Two PostgreSQL participants, so that recovery gets as far as the decision log.
    aliases = {f"pg{i}": db.django_settings() for i, db in enumerate(databases, 1)}
    outputs = []
    for url in urls(kind).values():
        tpc = {"DECISION_LOG": url, "RECOVERY_ALIASES": list(aliases)}
        steps = ["checks", "accord_recover", "accord_recover_run", "admin_pages"]
        outputs.append(_probe({"tpc": tpc, "databases": aliases, "steps": steps}))
    return "\n".join(outputs)


@pytest.mark.parametrize(
    "kind",
    [
        "zookeeper-refused",
        "zookeeper-real",
    ],
)
def test_the_decision_log_url_shows_no_password(
    kind: str, urls: Callable[[str], dict[str, str]], postgres_databases: Any
) -> None:
    output = _tpc_probe(kind, urls, postgres_databases)
    assert not leaks(output), output
    assert "zookeeper://" in output  # the decision log was reached and named


# ---------------------------------------------------------------------------- Celery


@pytest.fixture
def celery_app() -> Iterator[Any]:
    from celery import Celery

    app = Celery("secrets", broker="memory://", backend="cache+memory://", set_as_current=False)
    app.conf.task_always_eager = True
    yield app
    app.close()


def _declare(app: Any, lock_url: str, **options: Any) -> Any:
    from accord.contrib.celery import singleton_task

    def rebuild(account: str) -> str:
        return "ran"

    return singleton_task(
        app=app, shared=False, name=f"t.{uuid.uuid4().hex}", lock_url=lock_url, **options
    )(rebuild)


def _celery_outputs(result: Any) -> str:
    return f"{result.state} {result.result!r} {result.traceback} {result.info!r}"


@pytest.mark.parametrize("kind", ["redis-real", "redis-refused", "zookeeper-refused"])
def test_singleton_task_shows_no_password(
    kind: str, urls: Callable[[str], dict[str, str]], celery_app: Any, outputs: Outputs
) -> None:
    for url in urls(kind).values():
        for lock_url in (url, _bad_path(url)):
            try:
                task = _declare(celery_app, lock_url, lock_options={"connect_timeout": 1})
            except Exception as exc:
                outputs.texts.append(f"declare raised: {shown(exc)}")
                outputs.errors += 1
                continue
            outputs.run("delay", lambda task=task: _celery_outputs(task.delay("acct")))
    outputs.assert_no_password()
    assert "FAILURE" in outputs.text() or outputs.errors  # the errors were looked at


def test_a_duplicate_singleton_task_stores_no_argument_in_its_result(celery_app: Any) -> None:
    lock_url = f"memory://{uuid.uuid4().hex}"
    task = _declare(celery_app, lock_url, on_duplicate="raise")
    backend = get_backend(lock_url)
    _, key = task.singleton_key((MARK,), {})
    assert backend.acquire(key, "holder|run|0|abc", 30.0, 0) is not None
    result = task.apply((MARK,))
    assert not leaks(_celery_outputs(result)), _celery_outputs(result)
