"""Reading a RingCache's ``LOCATION`` and ``OPTIONS`` into a checked configuration.

Failure behaviour: every mistake a user can make raises
:class:`RingCacheConfigError` (an ``ImproperlyConfigured``) whose message
names the cache alias, the setting or option at fault (with its value,
passwords replaced by ``***``) and the accepted forms. The error also
carries the system-check id and hint that ``accord.contrib.django.checks``
reports for it. Nothing here opens a connection.

Accepted ``LOCATION`` forms::

    "redis://h1:6379/0;redis://h2:6379/0"          # ';' or ',' separated
    ["redis://h1:6379/0", "rediss://:pw@h2:6380/1"]  # a list of URLs
    ["redis://h1:6379/0?weight=2", ...]              # a weight in the URL
    [{"url": "redis://h1:6379/0", "weight": 2, "name": "h1", "socket_timeout": 0.5}, ...]

In the dict form ``url`` is required; ``weight`` (default 1) and ``name``
(default: the URL without password) are optional, and every other key is a
redis-py connection option for that node only, overriding ``OPTIONS``.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from accord.core.errors import AccordError
from accord.core.optional import import_optional
from accord.core.ring import HashRing
from accord.core.urls import redact

__all__ = [
    "FAILOVER_POLICIES",
    "NODE_KEYS",
    "RING_OPTIONS",
    "CacheConfig",
    "NodeConfig",
    "RingCacheConfigError",
    "parse_config",
    "redact",
]

#: What a failing node does to the caller: see docs/cache.rst, "Failover".
FAILOVER_POLICIES = ("raise", "miss", "eject")
#: RingCache's own OPTIONS, with their defaults.
RING_OPTIONS: dict[str, Any] = {
    "failover": "raise",
    "failure_threshold": 3,
    "retry_after": 30.0,
    "fallback_timeout": 300.0,
    "vnodes": None,
    "hash": "xxh3",
    "hash_tags": True,
    "serializer": None,
    "pool_class": None,
    "parser_class": None,
}
#: Keys of the per-node dict form that are not connection options.
NODE_KEYS = ("url", "weight", "name")
#: Connection defaults that make a dead node fail fast instead of hanging.
CONNECTION_DEFAULTS: dict[str, Any] = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
# Read by Django's BaseCache for culling, which Redis does by itself.
_IGNORED_OPTIONS = ("MAX_ENTRIES", "CULL_FREQUENCY")
_SCHEMES = ("redis", "rediss", "unix")
_LOCATION_FORMS = (
    "a list of URLs, a ';'- or ','-separated string of URLs, or a list of dicts "
    "{'url': ..., 'weight': ..., 'name': ...}; URLs look like "
    "'redis://[[user]:password@]host[:port][/db]', 'rediss://...' or "
    "'unix:///path/to/redis.sock?db=0', and may end in '?weight=2'"
)
_SECRET_OPTIONS = frozenset({"password", "ssl_password", "credential_provider"})


class RingCacheConfigError(ImproperlyConfigured):
    """A RingCache setting is invalid; the message says which, and what is accepted.

    :attr:`check_id` and :attr:`hint` are what the system check reports.
    """

    def __init__(self, message: str, *, check_id: str, hint: str) -> None:
        super().__init__(f"{message} {hint}")
        self.message = message
        self.check_id = check_id
        self.hint = hint


@dataclass(frozen=True)
class NodeConfig:
    """One Redis node: its ring name and weight, URL, and connection options.

    ``repr`` never shows the password of the URL or of the options.
    """

    name: str
    url: str = field(repr=False)
    weight: float
    options: Mapping[str, Any] = field(repr=False)

    @property
    def safe_url(self) -> str:
        """The URL with the password replaced by ``***``."""
        return redact(self.url)

    def __repr__(self) -> str:
        shown = {k: ("***" if k in _SECRET_OPTIONS else v) for k, v in self.options.items()}
        return (
            f"NodeConfig(name={self.name!r}, url={self.safe_url!r}, weight={self.weight!r}, "
            f"options={shown!r})"
        )


@dataclass(frozen=True)
class CacheConfig:
    """A checked RingCache configuration: nodes plus the RingCache OPTIONS."""

    alias: str
    nodes: tuple[NodeConfig, ...]
    failover: str = "raise"
    failure_threshold: int = 3
    retry_after: float = 30.0
    fallback_timeout: float | None = 300.0
    vnodes: int | None = None
    hash: Any = "xxh3"
    hash_tags: bool = True
    serializer: Any = None
    pool_class: Any = None
    parser_class: Any = None
    ignored_options: tuple[str, ...] = ()

    def build_ring(self) -> HashRing:
        """Build the ring of :attr:`nodes` (hash tags honoured if enabled)."""
        from accord.contrib.django.cache.routing import hash_tag

        weights = {node.name: node.weight for node in self.nodes}
        key_func = hash_tag if self.hash_tags else None
        return HashRing(weights, vnodes=self.vnodes, hash=self.hash, key_func=key_func)


def parse_config(alias: str, location: object, options: object) -> CacheConfig:
    """Check ``LOCATION`` and ``OPTIONS`` of cache *alias* and return the configuration.

    :raises RingCacheConfigError: anything is malformed (see the module docstring).
    """
    where = f"CACHES[{alias!r}]"
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise RingCacheConfigError(
            f"{where}['OPTIONS'] must be a dict, got {type(options).__name__}.",
            check_id="accord.E014",
            hint="Write OPTIONS as a dict of option names to values.",
        )
    connection_names = connection_option_names()
    ring_opts: dict[str, Any] = dict(RING_OPTIONS)
    conn_opts: dict[str, Any] = dict(CONNECTION_DEFAULTS)
    ignored = []
    for key, value in options.items():
        if key in RING_OPTIONS:
            ring_opts[key] = value
        elif key in connection_names:
            conn_opts[key] = value
        elif key in _IGNORED_OPTIONS:
            ignored.append(key)
        else:
            raise _unknown_option(f"{where}['OPTIONS']", key, [*RING_OPTIONS, *connection_names])
    nodes = tuple(
        _parse_node(where, index, item, conn_opts, connection_names)
        for index, item in enumerate(_location_items(where, location), 1)
    )
    _check_unique(where, nodes)
    config = CacheConfig(alias=alias, nodes=nodes, ignored_options=tuple(ignored))
    config = _apply_ring_options(where, config, ring_opts)
    _check_ring(where, config)
    return config


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


def _unknown_option(where: str, key: object, known: list[str]) -> RingCacheConfigError:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    return RingCacheConfigError(
        f"{where} has unknown option {key!r}.",
        check_id="accord.E013",
        hint=f"{hint}Accepted: RingCache options {', '.join(RING_OPTIONS)}, and "
        "redis-py connection options such as socket_timeout, max_connections, password.",
    )


def _location_items(where: str, location: object) -> list[object]:
    if isinstance(location, str):
        items: list[object] = [part.strip() for part in re.split("[;,]", location)]
        items = [item for item in items if item]
    elif isinstance(location, (list, tuple)):
        items = list(location)
    else:
        raise RingCacheConfigError(
            f"{where}['LOCATION'] must be a list or a string, got "
            f"{type(location).__name__} {_safe_repr(location)}.",
            check_id="accord.E010",
            hint=f"Accepted: {_LOCATION_FORMS}.",
        )
    if not items:
        raise RingCacheConfigError(
            f"{where}['LOCATION'] names no Redis node.",
            check_id="accord.E010",
            hint=f"Accepted: {_LOCATION_FORMS}.",
        )
    return items


def _safe_repr(value: object) -> str:
    return redact(value) if isinstance(value, str) else repr(value)[:80]


def _parse_node(
    where: str, index: int, item: object, defaults: Mapping[str, Any], known: frozenset[str]
) -> NodeConfig:
    spot = f"{where}['LOCATION'] item {index}"
    if isinstance(item, str):
        spec: dict[str, Any] = {"url": item}
    elif isinstance(item, Mapping):
        spec = dict(item)
        if not isinstance(spec.get("url"), str):
            raise RingCacheConfigError(
                f"{spot} has no 'url' string.",
                check_id="accord.E010",
                hint=f"Accepted: {_LOCATION_FORMS}.",
            )
    else:
        raise RingCacheConfigError(
            f"{spot} is a {type(item).__name__}, not a URL or a dict.",
            check_id="accord.E010",
            hint=f"Accepted: {_LOCATION_FORMS}.",
        )
    url, url_weight = _check_url(spot, spec.pop("url"), known)
    if url_weight is not None and "weight" in spec:
        raise RingCacheConfigError(
            f"{spot} gives a weight twice (in the URL and as 'weight').",
            check_id="accord.E012",
            hint="Give it once.",
        )
    weight = _check_weight(spot, spec.pop("weight", 1 if url_weight is None else url_weight))
    name = spec.pop("name", None) or redact(url)
    if not isinstance(name, str):
        raise RingCacheConfigError(
            f"{spot} has a name of type {type(name).__name__}; names are strings.",
            check_id="accord.E010",
            hint="Use e.g. 'cache-1' or leave it out to use the URL.",
        )
    for key in spec:
        if key not in known:
            raise _unknown_option(spot, key, [*NODE_KEYS, *known])
    return NodeConfig(name=name, url=url, weight=weight, options={**defaults, **spec})


def _check_url(spot: str, url: str, known: frozenset[str]) -> tuple[str, str | None]:
    """Validate *url*; return it without ``weight=`` and the weight it gave."""
    problem = None
    try:
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            problem = f"its scheme {parts.scheme or '(none)'!r} is not one of {_SCHEMES}"
        elif parts.scheme == "unix" and not parts.path:
            problem = "it names no socket path"
        elif parts.scheme != "unix" and not parts.hostname:
            problem = "it names no host"
        else:
            _ = parts.port  # raises ValueError on a bad port
            db = parts.path.strip("/")
            if parts.scheme != "unix" and db and not db.isdigit():
                problem = f"the database {db!r} is not a number"
    except ValueError as exc:
        problem = str(exc).replace(url, redact(url))
    if problem is None:
        query = parse_qsl(parts.query, keep_blank_values=True)
        bad = [k for k, _ in query if k != "weight" and k not in known]
        if bad:
            problem = f"its query has unknown option {bad[0]!r}"
    if problem is not None:
        raise RingCacheConfigError(
            f"{spot} ({redact(url)!r}) is not a valid Redis URL: {problem}.",
            check_id="accord.E010",
            hint=f"Accepted: {_LOCATION_FORMS}.",
        )
    weights = [v for k, v in query if k == "weight"]
    rest = urlencode([(k, v) for k, v in query if k != "weight"])
    return urlunsplit(parts._replace(query=rest)), (weights[-1] if weights else None)


def _check_weight(spot: str, weight: object) -> float:
    value: float | None = None
    if isinstance(weight, str):
        try:
            value = float(weight)
        except ValueError:
            value = None
    elif isinstance(weight, (int, float)) and not isinstance(weight, bool):
        value = float(weight)
    if value is None or not (value > 0 and math.isfinite(value)):
        raise RingCacheConfigError(
            f"{spot} has weight {weight!r}.",
            check_id="accord.E012",
            hint="A weight is a positive number relative to the other nodes, "
            "e.g. 1 for most nodes and 2 for one twice as big.",
        )
    return value


def _check_unique(where: str, nodes: tuple[NodeConfig, ...]) -> None:
    seen: dict[str, int] = {}
    for index, node in enumerate(nodes, 1):
        if node.name in seen:
            raise RingCacheConfigError(
                f"{where}['LOCATION'] lists node {node.name!r} twice "
                f"(items {seen[node.name]} and {index}).",
                check_id="accord.E011",
                hint="Each Redis node (URL, or 'name' in the dict form) may appear once; "
                "to give a node more keys, raise its weight instead.",
            )
        seen[node.name] = index


def _apply_ring_options(where: str, config: CacheConfig, opts: dict[str, Any]) -> CacheConfig:
    def bad(option: str, accepted: str) -> RingCacheConfigError:
        return RingCacheConfigError(
            f"{where}['OPTIONS'][{option!r}] is {opts[option]!r}.",
            check_id="accord.E014",
            hint=f"Accepted: {accepted}.",
        )

    if opts["failover"] not in FAILOVER_POLICIES:
        raise bad("failover", ", ".join(map(repr, FAILOVER_POLICIES)) + " (default 'raise')")
    threshold = opts["failure_threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise bad("failure_threshold", "an int >= 1 (default 3)")
    for name in ("retry_after", "fallback_timeout"):
        value = opts[name]
        if name == "fallback_timeout" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise bad(name, f"a number of seconds > 0 (default {RING_OPTIONS[name]})")
    if not isinstance(opts["hash_tags"], bool):
        raise bad("hash_tags", "True (default) or False")
    if not (isinstance(opts["hash"], str) or callable(opts["hash"])):
        raise bad("hash", "a hash name such as 'xxh3' (default), 'md5' or 'ketama', or a callable")
    return CacheConfig(
        alias=config.alias,
        nodes=config.nodes,
        ignored_options=config.ignored_options,
        failover=opts["failover"],
        failure_threshold=threshold,
        retry_after=float(opts["retry_after"]),
        fallback_timeout=opts["fallback_timeout"],
        vnodes=opts["vnodes"],
        hash=opts["hash"],
        hash_tags=opts["hash_tags"],
        serializer=opts["serializer"],
        pool_class=opts["pool_class"],
        parser_class=opts["parser_class"],
    )


def _check_ring(where: str, config: CacheConfig) -> None:
    try:
        config.build_ring()
    except (AccordError, ValueError, TypeError) as exc:
        raise RingCacheConfigError(
            f"{where}['OPTIONS'] does not make a valid ring: {exc}",
            check_id="accord.E014",
            hint="Check 'vnodes' (a positive int) and 'hash' ('xxh3', 'md5', 'ketama', "
            "'ketama-libmemcached' or a name a plugin provides).",
        ) from exc
