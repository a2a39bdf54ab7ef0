"""The options of a singleton task, checked once when the task is declared.

Failure behaviour first: an unknown option, an unknown ``on_duplicate``, a
lease that is not a positive number of seconds, a ``max_lease`` shorter than
``lease`` or a ``key=`` that does not fit the function raise
:class:`~accord.core.errors.ConfigurationError` naming the value and what is
accepted. A missing lock URL is reported when the first call needs the lock
(the Celery app may be configured after the task is declared).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.contrib.celery.keys import KeySpec
from accord.core.errors import ConfigurationError

__all__ = ["DEFAULTS", "ON_DUPLICATE", "SingletonConfig"]

#: What a duplicate call does: see :func:`accord.contrib.celery.singleton_task`.
ON_DUPLICATE = ("return_existing", "raise", "drop")

#: The default of every option.
DEFAULTS: Mapping[str, Any] = {
    "key": None,
    "on_duplicate": "return_existing",
    "lease": 60.0,
    "max_lease": None,
    "reserve": 60.0,
    "lock_url": None,
    "lock_options": None,
}


def _seconds(name: str, value: Any, *, optional: bool, task_name: str) -> float | None:
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        accepted = "a number of seconds > 0" + (", or None" if optional else "")
        raise ConfigurationError(
            f"{name}={value!r} of singleton task {task_name!r} is invalid: expected {accepted}."
        )
    return float(value)


@dataclass(frozen=True)
class SingletonConfig:
    """The checked options of one singleton task (see :func:`singleton_task`)."""

    task_name: str
    keys: KeySpec
    on_duplicate: str = "return_existing"
    lease: float = 60.0
    max_lease: float | None = None
    reserve: float | None = 60.0
    lock_url: str | None = None
    lock_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, task_name: str, function: Callable[..., Any], options: Mapping[str, Any] | None
    ) -> SingletonConfig:
        """Check *options* (a mapping of the names in :data:`DEFAULTS`).

        :raises ConfigurationError: an option is unknown or invalid; the
            message names it, its value and what is accepted.
        """
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigurationError(
                f"singleton={options!r} of task {task_name!r} is invalid: expected a dict "
                f"of options among {sorted(DEFAULTS)}."
            )
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ConfigurationError(
                f"singleton task {task_name!r} got unknown options {unknown}; "
                f"accepted: {', '.join(sorted(DEFAULTS))}."
            )
        opts = {**DEFAULTS, **options}
        if opts["on_duplicate"] not in ON_DUPLICATE:
            raise ConfigurationError(
                f"on_duplicate={opts['on_duplicate']!r} of singleton task {task_name!r} is "
                f"invalid: expected one of {', '.join(repr(v) for v in ON_DUPLICATE)}."
            )
        lease = _seconds("lease", opts["lease"], optional=False, task_name=task_name)
        max_lease = _seconds("max_lease", opts["max_lease"], optional=True, task_name=task_name)
        assert lease is not None
        if max_lease is not None and max_lease < lease:
            raise ConfigurationError(
                f"max_lease={max_lease!r} of singleton task {task_name!r} is shorter than "
                f"lease={lease!r}: expected max_lease >= lease, or None (no cap)."
            )
        reserve = opts["reserve"]
        reserve = None if reserve is False else reserve
        reserve = _seconds("reserve", reserve, optional=True, task_name=task_name)
        lock_url = opts["lock_url"]
        if lock_url is not None and (not isinstance(lock_url, str) or "://" not in lock_url):
            raise ConfigurationError(
                f"lock_url={lock_url!r} of singleton task {task_name!r} is invalid: expected "
                "a lock URL such as 'redis://host:6379/0' or 'zookeeper://host:2181', or None "
                "for the Celery setting accord_lock_url."
            )
        lock_options = opts["lock_options"]
        if lock_options is not None and not isinstance(lock_options, Mapping):
            raise ConfigurationError(
                f"lock_options={lock_options!r} of singleton task {task_name!r} is invalid: "
                "expected a dict of lock backend options, or None."
            )
        return cls(
            task_name=task_name,
            keys=KeySpec(task_name, function, opts["key"]),
            on_duplicate=opts["on_duplicate"],
            lease=lease,
            max_lease=max_lease,
            reserve=reserve,
            lock_url=lock_url,
            lock_options=dict(lock_options or {}),
        )
