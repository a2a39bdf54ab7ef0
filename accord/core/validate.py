"""One number validator for every option, setting and argument accord takes.

Failure behaviour first: :func:`number` returns the value as a ``float`` (or
``int`` with ``integer=True``), :func:`number_or_none` also ``None`` when
``optional=True``; anything else raises the error class the caller names (by default
:class:`~accord.core.errors.ConfigurationError`, which is an ``AccordError``
and a ``ValueError``). The message names the value as the user wrote it and
what is accepted, e.g.::

    ttl=nan is invalid: expected a finite number of seconds > 0.
    ACCORD["TPC"]["RECOVERY_DELAY"] = -1 is invalid: expected a finite number of seconds >= 0.

``bool`` is never a number here, NaN is never accepted, and infinity only with
``infinite=True``. Strings are converted only with ``convert=True`` (values
read from a URL's query string), and the message then still shows the string.
"""

from __future__ import annotations

import math
from typing import Any

from accord.core.errors import ConfigurationError

__all__ = ["describe_bounds", "number", "number_or_none"]

_Error = type[Exception]


def describe_bounds(
    *,
    minimum: float | None,
    above: bool,
    maximum: float | None,
    unit: str,
    integer: bool,
    infinite: bool,
    optional: bool,
) -> str:
    """The "expected ..." half of a message, e.g. ``a finite number of seconds > 0``."""
    kind = "an integer" if integer else ("a number" if infinite else "a finite number")
    text = f"{kind} of {unit}" if unit else kind
    if minimum is not None and maximum is not None and not above:
        text += f" from {_bound(minimum)} to {_bound(maximum)}"
    else:
        if minimum is not None:
            text += f" {'>' if above else '>='} {_bound(minimum)}"
        if maximum is not None:
            text += f"{' and' if minimum is not None else ''} <= {_bound(maximum)}"
    if optional:
        text += ", or None"
    return text


def _bound(value: float) -> str:
    # 1048576, not 1.04858e+06: a bound the user must meet is written in full.
    return str(value) if isinstance(value, int) else f"{value:g}"


def number_or_none(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    above: bool = False,
    maximum: float | None = None,
    unit: str = "",
    integer: bool = False,
    infinite: bool = False,
    optional: bool = False,
    convert: bool = False,
    expected: str | None = None,
    hint: str = "",
    error: _Error = ConfigurationError,
    sep: str = "=",
) -> float | None:
    """Check *value* and return it as a float (an int with ``integer=True``).

    Use :func:`number` when ``None`` is not accepted: it is typed to return a
    number. Both share every keyword.

    :param name: how the user wrote the setting, e.g. ``"ttl"`` or
        ``'ACCORD["TPC"]["RECOVERY_DELAY"]'``; the message starts with it.
    :param minimum: the smallest accepted value (``None``: no lower bound);
        with ``above=True`` the value must be strictly greater.
    :param maximum: the largest accepted value (``None``: no upper bound).
    :param unit: ``"seconds"``, ``"bytes"``...: words for the message.
    :param integer: only integers are accepted (no float, even ``2.0``).
    :param infinite: ``inf`` is accepted (NaN never is).
    :param optional: ``None`` is accepted and returned as ``None``.
    :param convert: a string is converted first (a URL's query argument).
    :param expected: the accepted forms in words, instead of the generated ones.
    :param hint: a sentence appended to the message (what to do instead).
    :param error: the exception class to raise; it takes one message argument.
    :param sep: what joins the name and the value: ``"="`` or ``" = "``.
    :raises ConfigurationError: (or *error*) the value is not accepted.
    """
    if value is None and optional:
        return None
    checked = _as_number(value, integer=integer, convert=convert)
    if checked is not None and not _within(
        checked, minimum=minimum, above=above, maximum=maximum, infinite=infinite
    ):
        checked = None
    if checked is None:
        accepted = expected or describe_bounds(
            minimum=minimum,
            above=above,
            maximum=maximum,
            unit=unit,
            integer=integer,
            infinite=infinite,
            optional=optional,
        )
        message = f"{name}{sep}{value!r} is invalid: expected {accepted}."
        raise error(f"{message} {hint}" if hint else message)
    return checked


def _as_number(value: object, *, integer: bool, convert: bool) -> float | None:
    if convert and isinstance(value, str):
        text = value.strip()
        try:
            return int(text) if integer else float(text)
        except ValueError:
            return None
    if isinstance(value, bool):
        return None
    if integer:
        return value if isinstance(value, int) else None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float: not a finite number
            return None
    return None


def number(value: object, name: str, **checks: Any) -> float:
    """:func:`number_or_none` for values that may not be ``None``; same keywords.

    :raises ConfigurationError: (or the ``error=`` class) the value is not accepted.
    """
    checks.pop("optional", None)
    result = number_or_none(value, name, **checks)
    assert result is not None  # optional=False refuses None
    return result


def _within(
    value: float, *, minimum: float | None, above: bool, maximum: float | None, infinite: bool
) -> bool:
    if math.isnan(value) or (math.isinf(value) and not infinite):
        return False
    if minimum is not None and (value <= minimum if above else value < minimum):
        return False
    return maximum is None or value <= maximum
