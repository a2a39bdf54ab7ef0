"""The plugin manager: built-ins as plugins, entry points, checks, observers."""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import accord
from accord.core import plugins
from accord.core.errors import AccordPluginWarning, PluginError
from accord.core.plugins import get_plugin_manager, notify, parse_disabled
from accord.core.ring import hashes
from accord.testing.plugins import registered


@pytest.fixture(autouse=True)
def fresh_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(plugins.DISABLE_ENV, raising=False)
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


@pytest.fixture
def entry_points(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[importlib.metadata.EntryPoint]:
    """Entry points of group 'accord' the manager will see, pointing at modules in tmp_path."""
    eps: list[importlib.metadata.EntryPoint] = []
    monkeypatch.setattr(plugins, "_entry_points", lambda: list(eps))
    monkeypatch.syspath_prepend(str(tmp_path))
    return eps


def add_plugin_module(
    eps: list[importlib.metadata.EntryPoint], tmp_path: Path, name: str, source: str
) -> None:
    module = f"plugin_{name.replace('-', '_')}_{id(eps)}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    eps.append(importlib.metadata.EntryPoint(name=name, value=module, group="accord"))


OBSERVER = """
from accord import hookimpl
events = []

@hookimpl
def accord_ring_changed(ring, added, removed):
    events.append((added, removed))
"""


def test_hookimpl_marker_is_public() -> None:
    assert accord.hookimpl.project_name == "accord"


def test_builtins_are_registered_as_plugins() -> None:
    manager = get_plugin_manager()
    for name in plugins.BUILTIN_PLUGINS:
        assert manager.has_plugin(name)
    assert manager.hook.accord_hash_function(name="md5") is hashes.md5


def test_manager_is_built_once_across_threads() -> None:
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(get_plugin_manager())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(m) for m in seen}) == 1


def test_entry_point_plugin_is_registered_under_its_name(
    entry_points: list[importlib.metadata.EntryPoint], tmp_path: Path
) -> None:
    add_plugin_module(entry_points, tmp_path, "metrics", OBSERVER)
    assert get_plugin_manager().has_plugin("metrics")


def test_entry_point_module_with_make_plugin_registers_what_it_makes(
    entry_points: list[importlib.metadata.EntryPoint], tmp_path: Path
) -> None:
    add_plugin_module(
        entry_points,
        tmp_path,
        "made",
        """
        from accord import hookimpl

        class Made:
            @hookimpl
            def accord_lock_acquired(self, name):
                pass

        def make_plugin():
            return Made()
        """,
    )
    entry_points.append(
        importlib.metadata.EntryPoint(
            name="otel", value="accord.contrib.opentelemetry", group="accord"
        )
    )
    manager = get_plugin_manager()
    assert type(manager.get_plugin("made")).__name__ == "Made"
    assert type(manager.get_plugin("otel")).__name__ == "OpenTelemetryPlugin"
    assert plugins.observed("accord_lock_acquired")


def test_entry_point_that_fails_to_import_is_skipped_with_a_warning(
    entry_points: list[importlib.metadata.EntryPoint], tmp_path: Path
) -> None:
    add_plugin_module(entry_points, tmp_path, "broken", "raise RuntimeError('no config')")
    add_plugin_module(entry_points, tmp_path, "metrics", OBSERVER)
    with pytest.warns(AccordPluginWarning, match=r"'broken' .* failed to import .*no config"):
        manager = get_plugin_manager()
    assert manager.has_plugin("metrics")
    assert not manager.has_plugin("broken")
    assert isinstance(manager.failed_plugins["broken"], RuntimeError)


def test_misspelt_hook_raises_naming_plugin_and_the_likely_hook(
    entry_points: list[importlib.metadata.EntryPoint], tmp_path: Path
) -> None:
    add_plugin_module(
        entry_points,
        tmp_path,
        "typo",
        """
        from accord import hookimpl

        @hookimpl
        def accord_lock_aquired(name, url, token, wait):
            pass
        """,
    )
    with pytest.raises(
        PluginError, match=r"'typo' .*'accord_lock_aquired'.*'accord_lock_acquired'"
    ):
        get_plugin_manager()


def test_failed_build_is_not_kept_so_a_fixed_environment_recovers(
    entry_points: list[importlib.metadata.EntryPoint],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_plugin_module(entry_points, tmp_path, "typo", "def accord_hash_functoin(name): pass")
    with pytest.raises(PluginError, match="ACCORD_DISABLE_PLUGINS=typo"):
        get_plugin_manager()
    monkeypatch.setenv(plugins.DISABLE_ENV, "typo")
    assert get_plugin_manager().disabled_plugins == {"typo"}


def test_unmarked_function_with_the_hook_prefix_counts_as_an_implementation() -> None:
    plugin = types.SimpleNamespace(accord_hash_function=lambda name: len if name == "len" else None)
    with registered(plugin, "unmarked"):
        assert get_plugin_manager().hook.accord_hash_function(name="len") is len


def test_implementation_with_an_unknown_parameter_is_refused() -> None:
    def accord_lock_released(name: str, colour: str) -> None:
        pass

    plugin = types.SimpleNamespace(accord_lock_released=accord_lock_released)
    with pytest.raises(PluginError, match=r"'bad-args' is invalid.*colour"):
        get_plugin_manager().register(plugin, "bad-args")
    assert not get_plugin_manager().has_plugin("bad-args")


def test_observer_implemented_as_wrapper_is_refused() -> None:
    @accord.hookimpl(wrapper=True)
    def accord_ring_changed(ring: object) -> object:
        return (yield)

    plugin = types.SimpleNamespace(accord_ring_changed=accord_ring_changed)
    with pytest.raises(PluginError, match="as a wrapper"):
        get_plugin_manager().register(plugin, "wrapping")


def test_later_plugin_answers_a_provider_hook_before_the_builtin() -> None:
    plugin = types.SimpleNamespace(accord_hash_function=lambda name: len if name == "md5" else None)
    with registered(plugin):
        assert get_plugin_manager().hook.accord_hash_function(name="md5") is len
    assert get_plugin_manager().hook.accord_hash_function(name="md5") is hashes.md5


def test_first_result_asks_plugins_registered_after_its_first_call_and_not_those_removed() -> None:
    assert plugins.first_result("accord_hash_function", name="md5") is hashes.md5
    plugin = types.SimpleNamespace(accord_hash_function=lambda name: len if name == "md5" else None)
    with registered(plugin):
        assert plugins.first_result("accord_hash_function", name="md5") is len
        assert plugins.first_result("accord_hash_function", name="nope") is None
    assert plugins.first_result("accord_hash_function", name="md5") is hashes.md5


def test_first_result_lets_pluggy_run_a_wrapper_of_a_provider_hook() -> None:
    class Wrapper:
        @accord.hookimpl(wrapper=True)
        def accord_hash_function(self, name: str) -> Iterator[None]:
            found = yield
            return len if name == "nope" else found

    with registered(Wrapper()):
        assert plugins.first_result("accord_hash_function", name="nope") is len
        assert plugins.first_result("accord_hash_function", name="md5") is hashes.md5


def test_notify_passes_each_observer_only_the_arguments_it_names() -> None:
    got: list[tuple[str, ...]] = []
    plugin = types.SimpleNamespace(accord_ring_changed=lambda added: got.append(tuple(added)))
    with registered(plugin):
        notify("accord_ring_changed", ring=None, added=["a"], removed=[])
    assert got == [("a",)]


def test_failing_observer_is_logged_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[str] = []

    def boom(added: list[str]) -> None:
        raise RuntimeError("statsd down")

    with (
        registered(types.SimpleNamespace(accord_ring_changed=lambda added: got.append("first"))),
        registered(types.SimpleNamespace(accord_ring_changed=boom), "flaky"),
        caplog.at_level(logging.ERROR, logger="accord.plugins"),
    ):
        notify("accord_ring_changed", ring=None, added=["a"], removed=[])
    assert got == ["first"]
    assert "'flaky' failed in accord_ring_changed" in caplog.text
    assert "statsd down" in caplog.text


def test_emit_passes_arguments_by_position_to_observers_naming_all_or_some() -> None:
    got: list[tuple[object, ...]] = []

    def everything(name: str, url: str, token: int, wait: float) -> None:
        got.append(("all", name, url, token, wait))

    def some(wait: float, url: str) -> None:  # another order, a subset
        got.append(("some", wait, url))

    with (
        registered(types.SimpleNamespace(accord_lock_acquired=everything)),
        registered(types.SimpleNamespace(accord_lock_acquired=some), "some"),
    ):
        plugins.emit("accord_lock_acquired", "job", "redis://h:1", 7, 0.5)
        plugins.emit_to(
            plugins.observers("accord_lock_acquired"), "accord_lock_acquired", "j", "u", 8, 1.0
        )
    assert sorted(got, key=str) == sorted(
        [
            ("all", "job", "redis://h:1", 7, 0.5),
            ("some", 0.5, "redis://h:1"),
            ("all", "j", "u", 8, 1.0),
            ("some", 1.0, "u"),
        ],
        key=str,
    )
    assert plugins.observers("accord_lock_acquired") == ()


def test_emit_logs_a_failing_observer_and_still_calls_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[str] = []

    def boom(url: str) -> None:
        raise RuntimeError("statsd down")

    with (
        registered(types.SimpleNamespace(accord_lock_released=lambda url: got.append(url))),
        registered(types.SimpleNamespace(accord_lock_released=boom), "flaky"),
        caplog.at_level(logging.ERROR, logger="accord.plugins"),
    ):
        plugins.emit("accord_lock_released", "job", "redis://h:1", 7, 0.5)
    assert got == ["redis://h:1"]
    assert "'flaky' failed in accord_lock_released" in caplog.text


def test_disable_all_keeps_every_entry_point_out(
    entry_points: list[importlib.metadata.EntryPoint],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_plugin_module(entry_points, tmp_path, "metrics", OBSERVER)
    monkeypatch.setenv(plugins.DISABLE_ENV, "all")
    manager = get_plugin_manager()
    assert not manager.has_plugin("metrics")
    assert manager.has_plugin("accord.core.ring.hashes")


def test_disable_by_name_keeps_only_that_plugin_out(
    entry_points: list[importlib.metadata.EntryPoint],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_plugin_module(entry_points, tmp_path, "metrics", OBSERVER)
    add_plugin_module(entry_points, tmp_path, "tracing", OBSERVER)
    monkeypatch.setenv(plugins.DISABLE_ENV, " metrics ")
    manager = get_plugin_manager()
    assert not manager.has_plugin("metrics")
    assert manager.has_plugin("tracing")


def test_disabling_a_name_no_plugin_has_warns_with_the_installed_names(
    entry_points: list[importlib.metadata.EntryPoint],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_plugin_module(entry_points, tmp_path, "metrics", OBSERVER)
    monkeypatch.setenv(plugins.DISABLE_ENV, "metrix")
    with pytest.warns(AccordPluginWarning, match=r"'metrix'.*installed: metrics"):
        get_plugin_manager()


def test_two_entry_points_with_one_name_keep_the_first_and_warn(
    entry_points: list[importlib.metadata.EntryPoint], tmp_path: Path
) -> None:
    add_plugin_module(entry_points, tmp_path, "metrics", OBSERVER)
    add_plugin_module(entry_points, tmp_path, "metrics", OBSERVER)
    with pytest.warns(AccordPluginWarning, match="already registered under that name"):
        manager = get_plugin_manager()
    assert manager.get_plugin("metrics").__name__ == entry_points[0].value


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", set()), ("all", None), ("ALL", None), ("a", {"a"}), ("a, b.c ,d-e", {"a", "b.c", "d-e"})],
)
def test_parse_disabled_accepts_all_or_names(value: str, expected: set[str] | None) -> None:
    assert parse_disabled(value) == expected


@pytest.mark.parametrize("value", ["a,,b", "all,metrics", "a;b", "my plugin", ","])
def test_parse_disabled_rejects_malformed_values_naming_them(value: str) -> None:
    with pytest.raises(PluginError, match=r"ACCORD_DISABLE_PLUGINS=.*Accepted: 'all'"):
        parse_disabled(value)


def test_importing_accord_builds_no_plugin_manager() -> None:
    code = "import accord, accord.core.plugins as p; assert p._manager is None"
    subprocess.run([sys.executable, "-c", code], check=True)
