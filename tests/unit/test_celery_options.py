"""The options of singleton tasks are checked when the task is declared (no servers)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from accord.contrib.celery import singleton_task
from accord.contrib.celery.options import DEFAULTS, OPTIONS, SingletonConfig
from accord.core.errors import ConfigurationError


def rebuild(account_id: int) -> None: ...


def parse(**options: Any) -> SingletonConfig:
    return SingletonConfig.parse("app.rebuild", rebuild, options)


def test_defaults() -> None:
    config = parse()
    assert (config.on_duplicate, config.ttl, config.max_lease, config.reserve) == (
        "return_existing",
        60.0,
        None,
        60.0,
    )


def test_an_unknown_on_duplicate_is_rejected_with_the_accepted_values() -> None:
    with pytest.raises(
        ConfigurationError, match=r"on_duplicate='skip'.*'return_existing', 'raise', 'drop'"
    ):
        parse(on_duplicate="skip")


@pytest.mark.parametrize("ttl", [0, -1, 0.001, 2e9, float("inf"), float("nan"), "10", True, None])
def test_a_ttl_outside_the_locks_range_is_rejected(ttl: Any) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"ttl=.* is invalid: expected a finite number of seconds from 0.01 to 1e\+09\. "
        r"\(singleton task 'app.rebuild'\)",
    ):
        parse(ttl=ttl)


def test_a_max_lease_shorter_than_the_ttl_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match=r"max_lease=5.0.*ttl=10.0"):
        parse(ttl=10, max_lease=5)


def test_the_lease_option_still_works_and_warns_naming_ttl() -> None:
    with pytest.warns(DeprecationWarning, match=r"lease= is deprecated: use ttl="):
        assert parse(lease=10).ttl == 10.0


def test_the_lease_option_together_with_ttl_is_rejected_naming_both() -> None:
    with pytest.raises(ConfigurationError, match=r"both ttl=10 and lease=20"):
        parse(ttl=10, lease=20)


def test_singleton_task_lease_still_works_and_warns_naming_ttl() -> None:
    with pytest.warns(DeprecationWarning, match=r"singleton_task\(lease=\.\.\.\) is deprecated"):
        task = singleton_task(lease=12, name="app.old_spelling")(rebuild)
    assert task.singleton_config().ttl == 12.0


def test_singleton_task_with_lease_and_ttl_is_rejected_naming_both() -> None:
    with pytest.raises(ConfigurationError, match=r"both ttl=10 and lease=20"):
        singleton_task(ttl=10, lease=20)(rebuild)


def test_singleton_config_lease_still_reads_the_ttl_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match=r"SingletonConfig.lease is deprecated: use .*ttl"):
        assert parse(ttl=7).lease == 7.0


def test_the_options_the_signature_leaves_out_take_the_dataclass_defaults() -> None:
    task = singleton_task(name="app.all_defaults")(rebuild)
    config = task.singleton_config()
    for option, default in DEFAULTS.items():
        assert getattr(config, option) == default, option


def test_the_documented_defaults_are_the_dataclass_defaults() -> None:
    documented = documented_defaults()
    assert sorted(documented) == sorted(OPTIONS)
    for option, text in documented.items():
        if text == "setting":  # read from a Celery setting: the field's default is empty
            assert not DEFAULTS[option], option
        else:
            assert ast.literal_eval(text) == DEFAULTS[option], option


def documented_defaults() -> dict[str, str]:
    """The option table of docs/celery.rst: option name -> its default as written."""
    text = (Path(__file__).parents[2] / "docs" / "celery.rst").read_text()
    table = text.split("\nOptions\n-------\n", 1)[1].strip("\n").split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines():
        found = re.match(r"``(\w+)``\s+(``(.+?)``|setting)\s", line)
        if found:
            rows[found[1]] = found[3] if found[3] is not None else "setting"
    return rows


@pytest.mark.parametrize("reserve", [None, False])
def test_reserve_none_or_false_turns_the_reservation_off(reserve: Any) -> None:
    assert parse(reserve=reserve).reserve is None


def test_an_unknown_option_is_rejected_with_the_accepted_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"\['leese'\].*accepted: key, lock_options"):
        parse(leese=3)


def test_a_lock_url_without_scheme_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="lock_url='localhost:6379'"):
        parse(lock_url="localhost:6379")


def test_the_decorator_rejects_bad_options_at_declaration() -> None:
    with pytest.raises(ConfigurationError, match="on_duplicate='ignore'"):
        singleton_task(on_duplicate="ignore")(rebuild)


def test_the_decorator_rejects_key_names_not_in_the_signature() -> None:
    with pytest.raises(ConfigurationError, match=r"\['month'\]"):
        singleton_task(key=["month"])(rebuild)


def test_the_decorator_checks_key_names_of_bound_tasks_without_self() -> None:
    def bound(self: Any, account_id: int) -> None: ...

    with pytest.raises(ConfigurationError, match=r"its arguments are \['account_id'\]"):
        singleton_task(bind=True, key=["self"])(bound)


def test_a_base_that_is_not_a_singleton_task_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="base=<class 'object'>"):
        singleton_task(base=object)(rebuild)  # type: ignore[arg-type]
