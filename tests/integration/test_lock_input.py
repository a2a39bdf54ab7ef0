"""Bad input gets a clear error naming the value, and a failed acquire holds nothing (real servers).

Holes 12 and 13 of issue 11.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accord.core import plugins
from accord.core.errors import ConfigurationError, PluginError
from accord.core.lock import Lock, base
from accord.core.lock.backends.file import FileBackend
from accord.core.lock.backends.redis import RedisBackend


@pytest.fixture(autouse=True)
def fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


@pytest.mark.parametrize("ttl", [float("inf"), 1e-4, 1e12])
def test_a_ttl_redis_cannot_keep_is_refused_before_asking_the_server(
    redis_server: Any, ttl: float
) -> None:
    with pytest.raises(ConfigurationError, match=rf"ttl={ttl!r} is invalid.*from 0.01"):
        Lock("job", f"{redis_server.url}/0", ttl=ttl)


def test_a_missing_lock_directory_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(ConfigurationError, match=str(missing)):
        Lock("job", f"file://{missing}")
    assert not missing.exists()


def test_a_short_name_never_shares_a_file_with_a_long_hashed_one(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    long = "x" * 200
    hashed = os.path.basename(FileBackend(str(tmp_path)).path(long)).removesuffix(".lock")
    with Lock(long, url), Lock(hashed, url) as crafted:  # the name spelled like the file
        assert crafted.held


def test_a_plugin_configuration_error_leaves_nothing_held(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = RedisBackend(f"{redis_server.url}/0")
    monkeypatch.setenv(plugins.DISABLE_ENV, "not a plugin name!")
    plugins.reset_plugin_manager()
    try:
        with pytest.raises(PluginError, match="ACCORD_DISABLE_PLUGINS"):
            Lock("job", backend=backend).acquire()
        assert not backend.is_locked("job")
    finally:
        monkeypatch.delenv(plugins.DISABLE_ENV)
        plugins.reset_plugin_manager()
        backend.close()
