"""The lock's arguments, URL schemes, plugins and failure messages (no servers needed)."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accord.core import optional
from accord.core.errors import (
    ConfigurationError,
    LockBackendError,
    LockError,
    MissingDependency,
    NotOwned,
    UnknownProviderError,
)
from accord.core.lock import Lock, base, get_backend
from accord.core.lock.backends.memory import MemoryBackend
from accord.core.urls import redact
from accord.testing.plugins import registered
from accord.testing.servers import free_port


@pytest.fixture(autouse=True)
def fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_an_empty_or_non_string_name_is_refused(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="lock name"):
        Lock(name, "memory://")


@pytest.mark.parametrize("ttl", [0, -1, "30", True, float("nan")])
def test_a_ttl_that_is_not_a_positive_number_is_refused(ttl: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"ttl=.* > 0"):
        Lock("job", "memory://", ttl=ttl)


@pytest.mark.parametrize("timeout", [-0.1, "1", float("nan")])
def test_a_negative_or_non_numeric_timeout_is_refused(timeout: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout="):
        Lock("job", "memory://").acquire(timeout=timeout)


def test_blocking_false_with_a_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="blocking=False"):
        Lock("job", "memory://").acquire(blocking=False, timeout=1)


def test_url_and_backend_are_exclusive() -> None:
    with pytest.raises(ConfigurationError, match="exactly one of url="):
        Lock("job")
    with pytest.raises(ConfigurationError, match="exactly one of url="):
        Lock("job", "memory://", backend=MemoryBackend())


def test_an_unknown_scheme_names_the_accepted_ones() -> None:
    accepted = r"redis, rediss, unix, redis\+sentinel, rediss\+sentinel, zookeeper"
    with pytest.raises(UnknownProviderError, match=rf"'etcd'.*{accepted}"):
        Lock("job", "etcd://localhost:2379")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("localhost:6379", "has no scheme"),
        ("", "non-empty string"),
        ("file://relative/dir", "file:///absolute"),
        ("file:///tmp/x?mode=1", "file:///absolute"),
        ("zookeeper://", r"zookeeper://\[user:password@\]host:2181"),
        ("zookeeper://h1:2181,h2/app", "every host with a port"),
        ("redis://localhost:notaport/0", "redis://"),
        ("memory://a?b", "memory://<namespace>"),
    ],
)
def test_a_malformed_url_is_refused_with_the_accepted_forms(url: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        Lock("job", url)


def test_an_unknown_backend_option_is_refused_naming_the_accepted_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"\['colour'\].*socket_timeout"):
        Lock("job", "redis://localhost:6379/0", options={"colour": "red"})


def test_passwords_never_appear_in_urls_given_to_hooks_or_errors() -> None:
    assert redact("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("redis://user:s3cret@host/0") == "redis://user:***@host/0"
    assert Lock("job", "redis://:s3cret@localhost:6379/0").backend.url.count("s3cret") == 0


def test_a_missing_optional_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = optional.importlib.import_module

    def without_kazoo(name: str, *args: Any) -> Any:
        if name.startswith("kazoo"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(optional.importlib, "import_module", without_kazoo)
    with pytest.raises(MissingDependency, match=r'pip install "accord\[zookeeper\]"'):
        Lock("job", "zookeeper://localhost:2181")


def test_a_redis_server_that_is_down_fails_fast_with_the_cause_chained() -> None:
    lock = Lock("job", f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(LockBackendError, match="failed to acquire") as info:
        lock.acquire(timeout=0.5)
    assert time.monotonic() - started < 0.5
    assert info.value.__cause__ is not None


def test_a_zookeeper_that_is_down_fails_within_the_timeout() -> None:
    pytest.importorskip("kazoo")
    lock = Lock("job", f"zookeeper://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(LockBackendError, match="could not be reached") as info:
        lock.acquire(timeout=0.5)
    assert time.monotonic() - started < 1.0
    assert info.value.__cause__ is not None


def test_an_unusable_lock_directory_is_a_backend_error(tmp_path: Path) -> None:
    (tmp_path / "job.lock.queue").write_text("")  # a file where the queue directory goes
    with pytest.raises(LockBackendError, match=r"cannot queue for lock 'job' in .*writable"):
        Lock("job", f"file://{tmp_path}").acquire()


def test_token_and_ensure_held_before_acquire_say_so() -> None:
    lock = Lock("job", "memory://")
    with pytest.raises(LockError, match="has not been acquired"):
        _ = lock.token
    with pytest.raises(NotOwned):
        lock.ensure_held()


def test_a_plugin_provides_a_new_scheme_and_gets_the_options() -> None:
    seen: list[Any] = []

    def accord_lock_backend(scheme: str, url: str, options: Any) -> Any:
        if scheme != "custom":
            return None
        seen.append(dict(options))
        return MemoryBackend("custom://")

    plugin = types.SimpleNamespace(accord_lock_backend=accord_lock_backend)
    with registered(plugin), Lock("job", "custom://x", options={"flavour": "plain"}) as lock:
        assert lock.backend.url == "custom://"
    assert seen == [{"flavour": "plain"}]


def test_backends_are_shared_per_url_and_options() -> None:
    assert get_backend("memory://a") is get_backend("memory://a")
    assert Lock("x", "memory://a").backend is Lock("y", "memory://a").backend


def test_a_failing_on_lost_callback_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def broken(lock: Any, reason: str) -> None:
        raise RuntimeError("boom")

    lock = Lock("job", "memory://cb", ttl=0.3, on_lost=[broken, lambda lock, r: calls.append(r)])
    lock.acquire()
    backend = lock.backend
    assert isinstance(backend, MemoryBackend)
    backend.expire("job")
    time.sleep(0.3)
    assert calls
    assert "on_lost callback" in caplog.text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"min_replicas": -1}, r"min_replicas=-1 is invalid: expected a whole number >= 0"),
        ({"min_replicas": 1.5}, r"min_replicas=1\.5 is invalid"),
        ({"min_replicas": True}, r"min_replicas=True is invalid"),
        ({"min_replicas": "one"}, r"min_replicas='one' is invalid"),
        ({"replica_timeout": 0}, r"replica_timeout=0 is invalid"),
        (
            {"min_replicas": 1, "replica_timeout": 5, "socket_timeout": 5},
            r"replica_timeout=5\.0 is invalid: it must be below socket_timeout=5\.0",
        ),
    ],
)
def test_bad_replica_acknowledgement_options_are_refused(
    options: dict[str, Any], expected: str
) -> None:
    pytest.importorskip("redis")
    for url in ("redis://localhost:6379/0", "redis+sentinel://localhost:26379/mymaster/0"):
        with pytest.raises(ConfigurationError, match=expected):
            Lock("job", url, options=options)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://localhost:26379", "names no Sentinel service"),
        ("redis+sentinel://localhost:26379/m/0/extra", "is not /service"),
        ("redis+sentinel://localhost:99999/m", "not a number between 1 and 65535"),
        ("redis+sentinel://localhost:26379/m?socket_timeout=1", "query option 'socket_timeout'"),
        ("redis+sentinel://:s3cret@localhost:26379/m/x", r":\*\*\*@.*the database 'x'"),
    ],
)
def test_a_malformed_sentinel_lock_url_is_refused_with_the_accepted_form(
    url: str, expected: str
) -> None:
    pytest.importorskip("redis")
    with pytest.raises(ConfigurationError, match=expected) as info:
        Lock("job", url)
    assert "s3cret" not in str(info.value)


def test_backend_options_are_one_mapping() -> None:
    lock = Lock("job", "memory://options", options={})
    assert lock.backend.url == "memory://options"


def test_backend_options_as_keywords_still_work_and_warn() -> None:
    seen: list[dict[str, Any]] = []

    def accord_lock_backend(scheme: str, url: str, options: dict[str, Any]) -> Any:
        if scheme != "kw":
            return None
        seen.append(dict(options))
        return MemoryBackend("kw://")

    plugin = types.SimpleNamespace(accord_lock_backend=accord_lock_backend)
    with (
        registered(plugin),
        pytest.warns(DeprecationWarning, match=r"options=\{'flavour': \.\.\.\}"),
    ):
        Lock("job", "kw://x", flavour="plain")
    assert seen == [{"flavour": "plain"}]


def test_get_backend_options_as_keywords_still_work_and_warn() -> None:
    with (
        pytest.warns(DeprecationWarning, match="get_backend: backend options as keywords"),
        pytest.raises(ConfigurationError, match="colour"),
    ):
        get_backend("redis://localhost:6379/0", colour="red")


def test_an_option_given_both_ways_is_refused() -> None:
    with (
        pytest.warns(DeprecationWarning, match="as keywords"),
        pytest.raises(ConfigurationError, match=r"\['socket_timeout'\] are given both"),
    ):
        Lock(
            "job",
            "redis://localhost:6379/0",
            options={"socket_timeout": 1},
            socket_timeout=2,
        )


def test_options_that_are_not_a_mapping_are_refused_naming_the_type() -> None:
    with pytest.raises(ConfigurationError, match="options of type list is invalid"):
        Lock("job", "memory://x", options=[("a", 1)])  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["unix://:s3cr/et@/run/redis.sock", "redis://:s3cr#et@host:6379/0"])
def test_a_password_with_an_unescaped_separator_is_refused_unshown(url: str) -> None:
    with pytest.raises(ConfigurationError, match="must be URL-encoded") as caught:
        Lock("job", url)
    assert "s3cr" not in str(caught.value)
    assert "et@" not in str(caught.value)
