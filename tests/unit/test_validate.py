"""accord.core.validate: the one number validator."""

from __future__ import annotations

import math

import pytest

from accord.core.errors import AccordError, ConfigurationError, RingTypeError
from accord.core.validate import number, number_or_none


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "3", None, [1], 0, -1])
def test_a_positive_finite_number_refuses_everything_else_naming_the_value(bad: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        number(bad, "ttl", minimum=0, above=True, unit="seconds")
    assert f"ttl={bad!r} is invalid" in str(info.value)
    assert "expected a finite number of seconds > 0" in str(info.value)


def test_the_error_is_an_accord_error_and_a_value_error() -> None:
    with pytest.raises(AccordError):
        number(math.nan, "x")
    with pytest.raises(ValueError):
        number(math.nan, "x")


def test_an_accepted_number_comes_back_as_a_float() -> None:
    assert number(3, "ttl", minimum=0, above=True) == 3.0
    assert isinstance(number(3, "ttl"), float)


def test_integer_mode_accepts_only_ints_and_names_the_range() -> None:
    assert number(4, "vnodes", integer=True, minimum=1, maximum=4) == 4
    with pytest.raises(
        ConfigurationError, match=r"vnodes=5 is invalid: expected an integer from 1 to 4"
    ):
        number(5, "vnodes", integer=True, minimum=1, maximum=4)
    with pytest.raises(ConfigurationError):
        number(2.0, "vnodes", integer=True)


def test_none_is_accepted_only_when_optional() -> None:
    assert number_or_none(None, "timeout", optional=True) is None
    with pytest.raises(ConfigurationError, match=r"or None"):
        number_or_none("x", "timeout", optional=True)
    with pytest.raises(ConfigurationError):
        number(None, "timeout", optional=True)


def test_infinity_only_when_allowed() -> None:
    assert number(math.inf, "wait", infinite=True, minimum=0) == math.inf
    with pytest.raises(ConfigurationError):
        number(math.nan, "wait", infinite=True)


def test_strings_are_converted_only_when_asked_and_shown_as_written() -> None:
    assert number(" 2.5 ", "session_timeout", convert=True, minimum=0, above=True) == 2.5
    with pytest.raises(ConfigurationError, match=r"session_timeout='-1' is invalid"):
        number("-1", "session_timeout", convert=True, minimum=0, above=True)


def test_the_caller_chooses_the_error_class_separator_and_hint() -> None:
    with pytest.raises(
        RingTypeError, match=r'^ACCORD\["X"\] = nan is invalid: expected a weight\. Use 1\.$'
    ):
        number(
            math.nan,
            'ACCORD["X"]',
            sep=" = ",
            expected="a weight",
            hint="Use 1.",
            error=RingTypeError,
        )


def test_a_large_integer_bound_is_written_in_full() -> None:
    with pytest.raises(ConfigurationError, match=r"expected an integer from 1 to 1048576\."):
        number(0, "vnodes", integer=True, minimum=1, maximum=1 << 20)


def test_an_int_too_large_for_a_float_is_refused_as_not_finite() -> None:
    with pytest.raises(ConfigurationError, match=r"expected a finite number > 0"):
        number(10**400, "weight", minimum=0, above=True)


def test_an_open_lower_bound_and_an_upper_bound_read_as_one_range() -> None:
    with pytest.raises(ConfigurationError, match=r"expected a finite number > 0 and <= 100\."):
        number(0, "weight", minimum=0, above=True, maximum=100)
