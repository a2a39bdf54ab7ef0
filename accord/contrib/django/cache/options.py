"""RingCache's own ``OPTIONS``: one dataclass holds every default, one validator checks numbers.

Failure behaviour: a bad value raises
:class:`~accord.contrib.django.cache.errors.RingCacheConfigError` (E014)
naming the option, its value and what is accepted; an unknown option raises
E013 with the closest known name. Other ``OPTIONS`` entries must be redis-py
connection options; they are returned apart, checked against the installed
redis-py.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accord.contrib.django.cache.errors import RingCacheConfigError
from accord.core.errors import ConfigurationError
from accord.core.optional import import_optional
from accord.core.ring import DEFAULT_HASH
from accord.core.validate import number_or_none

__all__ = [
    "CONNECTION_DEFAULTS",
    "FAILOVER_POLICIES",
    "RingOptions",
    "connection_option_names",
    "parse_options",
    "unknown_option",
]

#: What a failing node does to the caller: see docs/cache.rst, "Failover".
FAILOVER_POLICIES = ("raise", "miss", "eject")
SERIALIZERS = ("pickle", "json", "msgpack")
COMPRESSORS = ("zlib", "lz4", "zstd")
#: Connection defaults that make a dead node fail fast instead of hanging.
CONNECTION_DEFAULTS: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
# Read by Django's BaseCache for culling, which Redis does by itself.
IGNORED_OPTIONS = ("MAX_ENTRIES", "CULL_FREQUENCY")


@dataclass(frozen=True)
class RingOptions:
    """Every RingCache option with its default (docs/cache.rst lists what each means)."""

    failover: str = "raise"
    failure_threshold: int = 3
    retry_after: float = 30.0
    group_retry_after: float = 1.0
    fallback_timeout: float | None = 300.0
    replication_window: float = 2.0
    vnodes: int | None = None
    hash: Any = DEFAULT_HASH
    hash_tags: bool = True
    serializer: Any = None
    compressor: Any = None
    compress_min_length: int = 1024
    compress_level: int | None = None
    pool_class: Any = None
    parser_class: Any = None
    async_pool_class: Any = None
    async_parser_class: Any = None
    stampede_lock: str | None = None
    stampede_wait: float = 10.0
    stampede_ttl: float = 30.0
    reverse_key_function: Any = None


RING_OPTIONS = {f.name: f.default for f in dataclasses.fields(RingOptions)}

# name: (minimum, integer?, None allowed?, strictly above the minimum?)
_NUMBERS: dict[str, tuple[float, bool, bool, bool]] = {
    "failure_threshold": (1, True, False, False),
    "retry_after": (0, False, False, True),
    "group_retry_after": (0, False, False, True),
    "fallback_timeout": (0, False, True, True),
    "replication_window": (0, False, False, False),
    "compress_min_length": (0, True, False, False),
    "compress_level": (-100, True, True, False),
    "stampede_wait": (0, False, False, False),
    "stampede_ttl": (0, False, False, True),
}


def connection_option_names() -> frozenset[str]:
    """Every keyword the installed redis-py accepts for a connection or its pool."""
    redis = import_optional("redis", extra="redis", purpose="RingCache (a Redis cache backend)")
    names: set[str] = set()
    classes = (
        redis.connection.AbstractConnection,
        redis.connection.Connection,
        redis.connection.SSLConnection,
        redis.connection.UnixDomainSocketConnection,
        redis.connection.ConnectionPool,
    )
    for cls in classes:
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                names.add(param.name)
    names -= {"self", "connection_class", "connection_kwargs", "host", "port", "path"}
    return frozenset(names)


def unknown_option(where: str, key: object, known: list[str]) -> RingCacheConfigError:
    """E013 for *key*, suggesting the closest of *known*."""
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    return RingCacheConfigError(
        f"{where} has unknown option {key!r}.",
        check_id="accord.E013",
        hint=f"{hint}Accepted: RingCache options {', '.join(RING_OPTIONS)}, and "
        "redis-py connection options such as socket_timeout, max_connections, password.",
    )


def parse_options(
    where: str, options: object
) -> tuple[RingOptions, dict[str, Any], tuple[str, ...], frozenset[str]]:
    """Split ``OPTIONS``: (RingCache options, connection options, ignored names, known names)."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise RingCacheConfigError(
            f"{where}['OPTIONS'] must be a dict, got a {type(options).__name__}.",
            check_id="accord.E014",
            hint="Write OPTIONS as a dict of option names to values.",
        )
    known = connection_option_names()
    ring: dict[str, Any] = {}
    connection: dict[str, Any] = dict(CONNECTION_DEFAULTS)
    ignored = []
    for key, value in options.items():
        if key in RING_OPTIONS:
            ring[key] = value
        elif key in known:
            connection[key] = value
        elif key in IGNORED_OPTIONS:
            ignored.append(key)
        else:
            raise unknown_option(f"{where}['OPTIONS']", key, [*RING_OPTIONS, *known])
    return _check(f"{where}['OPTIONS']", ring), connection, tuple(ignored), known


def _bad(where: str, name: str, value: object, accepted: str) -> RingCacheConfigError:
    """E014 for option *name*; *accepted* in words, the default (read from RingOptions) added."""
    shown = (
        repr(value)
        if isinstance(value, (str, int, float, bool, type(None)))
        else (f"a {type(value).__name__}")
    )
    return RingCacheConfigError(
        f"{where}[{name!r}] is {shown}.",
        check_id="accord.E014",
        hint=f"Accepted: {accepted} (default {RING_OPTIONS[name]!r}).",
    )


def check_number(where: str, name: str, value: object) -> Any:
    """Option *name* checked by :func:`accord.core.validate.number_or_none`; E014 otherwise.

    The ranges are in ``_NUMBERS``; the hint gives the option's default.
    """
    minimum, integer, nullable, strict = _NUMBERS[name]
    bounds: dict[str, Any] = {
        "minimum": minimum,
        "above": strict,
        "integer": integer,
        "optional": nullable,
        "unit": "" if integer else "seconds",
    }
    try:
        return number_or_none(value, f"{where}[{name!r}]", sep=" = ", **bounds)
    except ConfigurationError as exc:
        raise RingCacheConfigError(
            str(exc),
            check_id="accord.E014",
            hint=f"Leave it out for the default, {RING_OPTIONS[name]!r}.",
        ) from exc


def _check(where: str, given: dict[str, Any]) -> RingOptions:
    values = {**RING_OPTIONS, **given}
    for name in _NUMBERS:
        values[name] = check_number(where, name, values[name])
    if values["failover"] not in FAILOVER_POLICIES:
        accepted = ", ".join(map(repr, FAILOVER_POLICIES))
        raise _bad(where, "failover", values["failover"], accepted)
    if not isinstance(values["hash_tags"], bool):
        raise _bad(where, "hash_tags", values["hash_tags"], "True or False")
    if not (isinstance(values["hash"], str) or callable(values["hash"])):
        accepted = "a hash name such as 'xxh3', 'md5' or 'ketama', or a callable"
        raise _bad(where, "hash", values["hash"], accepted)
    serializer = values["serializer"]
    if isinstance(serializer, str) and "." not in serializer and serializer not in SERIALIZERS:
        names = ", ".join(map(repr, SERIALIZERS))
        accepted = f"None (Django's pickle format), {names}, a dotted path or a class"
        raise _bad(where, "serializer", serializer, accepted)
    compressor = values["compressor"]
    if (
        compressor is not None
        and compressor not in COMPRESSORS
        and not ((isinstance(compressor, str) and "." in compressor) or callable(compressor))
    ):
        accepted = f"None, {', '.join(map(repr, COMPRESSORS))}, a dotted path or a class"
        raise _bad(where, "compressor", compressor, accepted)
    lock = values["stampede_lock"]
    if lock is not None and not (isinstance(lock, str) and ("://" in lock or lock == "node")):
        accepted = "None (off), 'node' (a lock on the key's own Redis) or a lock URL"
        raise _bad(where, "stampede_lock", lock, accepted)
    return RingOptions(**values)
