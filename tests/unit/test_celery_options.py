"""The options of singleton tasks are checked when the task is declared (no servers)."""

from __future__ import annotations

from typing import Any

import pytest

from accord.contrib.celery import singleton_task
from accord.contrib.celery.options import SingletonConfig
from accord.core.errors import ConfigurationError


def rebuild(account_id: int) -> None: ...


def parse(**options: Any) -> SingletonConfig:
    return SingletonConfig.parse("app.rebuild", rebuild, options)


def test_defaults() -> None:
    config = parse()
    assert (config.on_duplicate, config.lease, config.max_lease, config.reserve) == (
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


@pytest.mark.parametrize("lease", [0, -1, float("inf"), float("nan"), "10", True, None])
def test_a_lease_that_is_not_a_positive_number_is_rejected(lease: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"lease=.*expected a number of seconds > 0"):
        parse(lease=lease)


def test_a_max_lease_shorter_than_the_lease_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match=r"max_lease=5.0.*lease=10.0"):
        parse(lease=10, max_lease=5)


@pytest.mark.parametrize("reserve", [None, False])
def test_reserve_none_or_false_turns_the_reservation_off(reserve: Any) -> None:
    assert parse(reserve=reserve).reserve is None


def test_an_unknown_option_is_rejected_with_the_accepted_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"\['leese'\].*accepted: key, lease"):
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
