"""How a singleton task call becomes its key (no servers)."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import pytest

from accord.contrib.celery.keys import KeySpec, canonical, lock_name
from accord.core.errors import ConfigurationError, TaskKeyError


def rebuild(account_id: int, month: int | None = None, *, dry_run: bool = False) -> None: ...


def spec(key: Any = None) -> KeySpec:
    return KeySpec("app.rebuild", rebuild, key)


def test_positional_and_keyword_calls_have_one_key() -> None:
    assert spec().key((7, 3), {}) == spec().key((), {"month": 3, "account_id": 7})


def test_defaults_are_applied_before_the_key_is_made() -> None:
    assert spec().key((7,), {}) == spec().key((7, None), {"dry_run": False})


def test_the_key_names_the_task_and_every_argument() -> None:
    assert spec().key((7,), {}) == 'app.rebuild:{"account_id":7,"dry_run":false,"month":null}'


def test_key_names_pick_the_arguments() -> None:
    assert spec(["account_id"]).key((7, 3), {}) == spec(["account_id"]).key((7, 4), {})


def test_an_empty_key_means_one_per_task_name() -> None:
    assert spec(()).key((7,), {}) == spec(()).key((8,), {}) == "app.rebuild:{}"


def test_a_key_callable_gets_the_call_arguments() -> None:
    by_account = spec(lambda account_id, **_: ("acct", account_id))
    assert by_account.key((7,), {"month": 1}) == 'app.rebuild:["acct",7]'


def test_tuples_and_lists_are_the_same_key() -> None:
    assert canonical((1, 2)) == canonical([1, 2])


def test_dict_order_does_not_change_the_key() -> None:
    assert canonical({"b": 1, "a": 2}) == canonical({"a": 2, "b": 1})


def test_uuid_decimal_and_dates_have_canonical_forms() -> None:
    value = [uuid.UUID(int=1), decimal.Decimal("1.10"), datetime.date(2026, 1, 2)]
    assert canonical(value) == (
        '[{"$uuid":"00000000-0000-0000-0000-000000000001"},{"$decimal":"1.10"},'
        '{"$date":"2026-01-02"}]'
    )


def test_an_unserialisable_argument_is_rejected_naming_it_and_its_type() -> None:
    with pytest.raises(
        TaskKeyError, match=r"argument 'month' of task 'app.rebuild' is of type object,"
    ):
        spec().key((7, object()), {})


@pytest.mark.parametrize(
    "month",
    [{"s3cr3t-pw"}, ["ok", {"s3cr3t-pw"}], {"nested": {"s3cr3t-pw"}}, {("s3cr3t-pw",): 1}],
)
def test_a_key_error_never_shows_the_arguments_value(month: Any) -> None:
    with pytest.raises(TaskKeyError) as caught:
        spec().key((7, month), {})
    assert "s3cr3t-pw" not in str(caught.value)


def test_a_call_that_does_not_fit_never_shows_the_arguments_values() -> None:
    with pytest.raises(TaskKeyError, match=r"keyword arguments \['password'\]") as caught:
        spec().key(("s3cr3t-pw",), {"password": "s3cr3t-pw"})
    assert "s3cr3t-pw" not in str(caught.value)


def test_the_error_lists_what_is_accepted() -> None:
    with pytest.raises(TaskKeyError, match="Accepted: str, int"):
        spec().key((7, {1, 2}), {})


def test_a_nan_argument_is_rejected() -> None:
    with pytest.raises(TaskKeyError, match="nan"):
        spec().key((float("nan"),), {})


def test_a_dict_with_non_string_keys_is_rejected() -> None:
    with pytest.raises(TaskKeyError, match="str keys"):
        spec().key(({1: "a"},), {})


def test_a_call_that_does_not_fit_the_signature_is_rejected() -> None:
    with pytest.raises(TaskKeyError, match="do not fit its signature"):
        spec().key((), {"colour": "red"})


def test_key_names_the_task_does_not_take_are_rejected_with_the_accepted_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"\['acount_id'\].*\['account_id', 'month'"):
        spec(["acount_id"])


def test_a_string_key_is_rejected_with_a_hint() -> None:
    with pytest.raises(ConfigurationError, match=r"\['account_id'\]"):
        spec("account_id")


def test_a_key_of_another_type_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="key=42"):
        spec(42)


def test_lock_names_are_short_and_start_with_the_task_name() -> None:
    name = lock_name("app.rebuild:" + "x" * 10_000)
    assert name.startswith("celery:app.rebuild:")
    assert len(name) < 80


def positional(account_id: int, month: int = 2) -> None: ...


def test_an_all_positional_call_has_the_key_of_the_same_call_by_keyword() -> None:
    keys = KeySpec("app.positional", positional, None)
    assert keys.key((7, 2), {}) == keys.key((7,), {}) == keys.key((), {"account_id": 7})


def test_an_all_positional_call_still_names_an_unserialisable_argument() -> None:
    keys = KeySpec("app.positional", positional, None)
    with pytest.raises(TaskKeyError, match=r"'month' of task 'app.positional' is of type set"):
        keys.key((7, {1}), {})
