"""The options of a singleton task, checked once when the task is declared.

Failure behaviour first: an unknown option, an unknown ``on_duplicate``, a
``ttl`` that is not a number of seconds from 0.01 to 1e9 (the range
:class:`~accord.core.lock.Lock` accepts), a ``max_lease`` shorter than
``ttl``, ``ttl=`` and its deprecated spelling ``lease=`` together, or a
``key=`` that does not fit the function raise
:class:`~accord.core.errors.ConfigurationError` naming the value and what is
accepted. A missing lock URL is reported when the first call needs the lock
(the Celery app may be configured after the task is declared).

Every default is held by :class:`SingletonConfig`, and only there.
"""

from __future__ import annotations

import dataclasses
import enum
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from accord.contrib.celery.keys import KeySpec
from accord.core.errors import ConfigurationError
from accord.core.lock.core import MAX_TTL, MIN_TTL
from accord.core.validate import number, number_or_none

__all__ = ["DEFAULT", "DEFAULTS", "ON_DUPLICATE", "OPTIONS", "SingletonConfig"]

#: What a duplicate call does: see :func:`accord.contrib.celery.singleton_task`.
ON_DUPLICATE = ("return_existing", "raise", "drop")

#: Deprecated option names and their replacements.
RENAMED: Mapping[str, str] = {"lease": "ttl"}


class _Default(enum.Enum):
    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


#: What an option left out is (in :func:`~accord.contrib.celery.singleton_task`'s
#: signature): the default of the :class:`SingletonConfig` field of that name.
DEFAULT: Final = _Default.DEFAULT


@dataclass(frozen=True)
class SingletonConfig:
    """The checked options of one singleton task (see :func:`singleton_task`).

    The one place each option's default is written; the docs' table of
    options is tested against it.
    """

    task_name: str
    keys: KeySpec
    #: The ``key=`` option as given: None (every argument), names, () or a callable.
    key: Sequence[str] | Callable[..., Any] | None = None
    on_duplicate: str = "return_existing"
    #: Seconds the execution lease lasts unless renewed (renewed every ``ttl / 3``).
    ttl: float = 60.0
    #: Seconds after which the lease is released and counts as lost (None: no cap).
    max_lease: float | None = None
    #: Seconds a reservation lasts after the message may run (None: no reservation).
    reserve: float | None = 60.0
    #: The lock URL (None: the Celery setting ``accord_lock_url``).
    lock_url: str | None = None
    #: Lock backend options, on top of the Celery setting ``accord_lock_options``.
    lock_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def lease(self) -> float:
        """Deprecated: :attr:`ttl`."""
        warnings.warn(
            "SingletonConfig.lease is deprecated: use SingletonConfig.ttl",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.ttl

    @classmethod
    def parse(
        cls, task_name: str, function: Callable[..., Any], options: Mapping[str, Any] | None
    ) -> SingletonConfig:
        """Check *options* (a mapping of the names in :data:`OPTIONS`).

        ``lease`` is accepted for ``ttl`` with a ``DeprecationWarning``.

        :raises ConfigurationError: an option is unknown or invalid; the
            message names it, its value and what is accepted.
        """
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigurationError(
                f"singleton={options!r} of task {task_name!r} is invalid: expected a dict "
                f"of options among {sorted(OPTIONS)}."
            )
        opts = _renamed(task_name, {k: v for k, v in options.items() if v is not DEFAULT})
        unknown = sorted(set(opts) - set(OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"singleton task {task_name!r} got unknown options {unknown}; "
                f"accepted: {', '.join(sorted(OPTIONS))}."
            )
        opts = {**DEFAULTS, **opts}
        where = f"(singleton task {task_name!r})"
        if opts["on_duplicate"] not in ON_DUPLICATE:
            raise ConfigurationError(
                f"on_duplicate={opts['on_duplicate']!r} of singleton task {task_name!r} is "
                f"invalid: expected one of {', '.join(repr(v) for v in ON_DUPLICATE)}."
            )
        ttl = number(
            opts["ttl"], "ttl", minimum=MIN_TTL, maximum=MAX_TTL, unit="seconds", hint=where
        )
        max_lease = number_or_none(
            opts["max_lease"], "max_lease", minimum=0, above=True, unit="seconds",
            optional=True, hint=where,
        )  # fmt: skip
        if max_lease is not None and max_lease < ttl:
            raise ConfigurationError(
                f"max_lease={max_lease!r} of singleton task {task_name!r} is shorter than "
                f"ttl={ttl!r}: expected max_lease >= ttl, or None (no cap)."
            )
        reserve = opts["reserve"]
        reserve = number_or_none(
            None if reserve is False else reserve, "reserve", minimum=0, above=True,
            unit="seconds", optional=True, expected="a finite number of seconds > 0, None "
            "or False (no reservation)", hint=where,
        )  # fmt: skip
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
                "expected a dict of lock backend options (as Lock(options=...) takes), or None."
            )
        return cls(
            task_name=task_name,
            keys=KeySpec(task_name, function, opts["key"]),
            key=opts["key"],
            on_duplicate=opts["on_duplicate"],
            ttl=ttl,
            max_lease=max_lease,
            reserve=reserve,
            lock_url=lock_url,
            lock_options=dict(lock_options or {}),
        )


def _field_default(option: dataclasses.Field[Any]) -> Any:
    if option.default_factory is not dataclasses.MISSING:
        return option.default_factory()
    return option.default


#: The options :func:`~accord.contrib.celery.singleton_task` takes (the fields with a default).
OPTIONS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(SingletonConfig) if f.name not in ("task_name", "keys")
)

#: The default of every option, read from :class:`SingletonConfig` (not written twice).
DEFAULTS: Mapping[str, Any] = {
    f.name: _field_default(f) for f in dataclasses.fields(SingletonConfig) if f.name in OPTIONS
}


def _renamed(task_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """*options* with deprecated names replaced (warning); both spellings: ConfigurationError."""
    for old, new in RENAMED.items():
        if old not in options:
            continue
        if new in options:
            raise ConfigurationError(
                f"singleton task {task_name!r} got both {new}={options[new]!r} and "
                f"{old}={options[old]!r}: pass only {new}= ({old}= is its deprecated spelling)."
            )
        warnings.warn(
            f"the singleton task option {old}= is deprecated: use {new}= "
            f"(singleton task {task_name!r})",
            DeprecationWarning,
            stacklevel=4,
        )
        options[new] = options.pop(old)
    return options
