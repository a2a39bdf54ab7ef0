"""Reading a RingCache ``LOCATION`` into nodes: plain Redis servers, Sentinel groups, a Cluster.

Failure behaviour: every malformed entry raises
:class:`~accord.contrib.django.cache.errors.RingCacheConfigError` naming the
alias, the item, the value with its passwords replaced by ``***`` (a dict or
set is described by its type, never printed) and the accepted forms.

Accepted forms (a list, or one ``;``/``,``-separated string of the plain forms)::

    redis://[[user]:password@]host[:port][/db][?option=value...]
    rediss://...                                   # TLS
    unix:///path/to/redis.sock[?db=N]
    redis+sentinel://[[user]:password@]s1[:26379],s2[:26379]/service[/db][?...]
    rediss+sentinel://...                          # TLS to the data nodes
    redis+cluster://[[user]:password@]h1[:6379],h2[:6379][?...]   # the whole backend
    {"url": ..., "weight": 2, "name": "cache-a", <redis-py option>: ...}

A node is named by what identifies its data, never by credentials or
options: ``redis://host:port/db``, ``unix:///path?db=N``,
``redis+sentinel://service/db``. A password rotation therefore moves no key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from accord.contrib.django.cache.errors import RingCacheConfigError
from accord.contrib.django.cache.options import unknown_option
from accord.core.errors import ConfigurationError
from accord.core.redis_url import (
    CLUSTER_SCHEMES,
    SENTINEL_QUERY_OPTIONS,
    SENTINEL_SCHEMES,
    parse_database,
    parse_multi_host_url,
)
from accord.core.urls import redact, scrub
from accord.core.validate import number

__all__ = ["LOCATION_FORMS", "SENTINEL_QUERY_OPTIONS", "NodeConfig", "parse_location"]

LOCATION_FORMS = (
    "a list of URLs (or one string of them separated by ';' or ','), or dicts "
    "{'url': ..., 'weight': ..., 'name': ...}; URLs look like "
    "'redis://[[user]:password@]host[:port][/db]', 'rediss://...', "
    "'unix:///path/to/redis.sock?db=0', a Sentinel group "
    "'redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0', or a whole Redis Cluster "
    "'redis+cluster://h1:6379,h2:6379' (alone in LOCATION), and may end in '?weight=2'"
)
_PLAIN = ("redis", "rediss", "unix")
_SENTINEL = SENTINEL_SCHEMES
_CLUSTER = CLUSTER_SCHEMES
_NODE_KEYS = ("url", "weight", "name")


@dataclass(frozen=True)
class NodeConfig:
    """One ring node (or, for ``kind == "cluster"``, the whole backend).

    ``kind`` is ``"redis"`` (one server), ``"sentinel"`` (a master group that
    Sentinels fail over) or ``"cluster"``. ``hosts`` are the Sentinels or the
    cluster's startup nodes. ``repr`` never shows a password.
    """

    name: str
    kind: str
    url: str = field(repr=False)
    weight: float
    options: Mapping[str, Any] = field(repr=False)
    hosts: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    tls: bool = False

    @property
    def safe_url(self) -> str:
        """The URL with every password replaced by ``***``."""
        return redact(self.url)

    def __repr__(self) -> str:
        return f"NodeConfig(name={self.name!r}, kind={self.kind!r}, url={self.safe_url!r})"


def _error(spot: str, problem: str, check_id: str = "accord.E010") -> RingCacheConfigError:
    return RingCacheConfigError(
        f"{spot} {problem}.", check_id=check_id, hint=f"Accepted: {LOCATION_FORMS}."
    )


def describe(value: object) -> str:
    """A value for a message: a string redacted, anything else by its type only."""
    if isinstance(value, str):
        return repr(redact(value))
    return f"a {type(value).__name__}"


def location_items(where: str, location: object) -> list[object]:
    """The items of ``LOCATION``; E010 for a wrong type or an empty one."""
    if isinstance(location, str):
        # Sentinel and cluster URLs hold ','-separated hosts: then only ';' separates nodes.
        separators = "[;]" if "+sentinel://" in location or "+cluster://" in location else "[;,]"
        items: list[object] = [p.strip() for p in re.split(separators, location) if p.strip()]
    elif isinstance(location, (list, tuple)):
        items = list(location)
    else:
        raise _error(
            f"{where}['LOCATION']", f"must be a list or a string, got {describe(location)}"
        )
    if not items:
        raise _error(f"{where}['LOCATION']", "names no Redis node")
    return items


def parse_location(
    where: str,
    location: object,
    defaults: Mapping[str, Any],
    known: frozenset[str],
    *,
    max_weight: float,
) -> tuple[NodeConfig, ...]:
    """Every node of ``LOCATION``, checked; *defaults* are ``OPTIONS``' connection options."""
    items = location_items(where, location)
    nodes = tuple(
        _parse_item(f"{where}['LOCATION'] item {i}", item, defaults, known, max_weight)
        for i, item in enumerate(items, 1)
    )
    if any(node.kind == "cluster" for node in nodes) and len(nodes) > 1:
        raise _error(
            f"{where}['LOCATION']",
            "mixes a redis+cluster:// URL with other nodes; a Redis Cluster places keys by "
            "its own slots, so it must be the only entry",
        )
    seen: dict[str, int] = {}
    for index, node in enumerate(nodes, 1):
        if node.name in seen:
            raise RingCacheConfigError(
                f"{where}['LOCATION'] lists node {node.name!r} twice "
                f"(items {seen[node.name]} and {index}).",
                check_id="accord.E011",
                hint="Each node (host, port and db; or Sentinel service and db) may appear "
                "once; to give a node more keys, raise its weight; to use two databases of "
                "one server, give each its own 'name'.",
            )
        seen[node.name] = index
    return nodes


def _parse_item(
    spot: str, item: object, defaults: Mapping[str, Any], known: frozenset[str], max_weight: float
) -> NodeConfig:
    if isinstance(item, str):
        spec: dict[str, Any] = {"url": item}
    elif isinstance(item, Mapping):
        spec = dict(item)
        if not isinstance(spec.get("url"), str):
            raise _error(spot, "has no 'url' string")
    else:
        raise _error(spot, f"is {describe(item)}, not a URL or a dict")
    url: str = spec.pop("url")
    node = _parse_url(spot, url, known)
    query_weight = node.options.get("weight")
    if query_weight is not None and "weight" in spec:
        raise RingCacheConfigError(
            f"{spot} gives a weight twice (in the URL and as 'weight').",
            check_id="accord.E012",
            hint="Give it once.",
        )
    weight = check_weight(spot, spec.pop("weight", query_weight or 1), max_weight)
    name = spec.pop("name", None) or node.name
    if not isinstance(name, str):
        raise _error(spot, f"has a name of type {type(name).__name__}; names are strings")
    for key in spec:
        if key not in known:
            raise unknown_option(spot, key, [*_NODE_KEYS, *known])
    if node.kind == "redis":
        # redis-py reads the query of a plain URL itself; only the weight is ours.
        url, options = _without_weight(url), {**defaults, **spec}
    else:
        url_options = _converted({k: v for k, v in node.options.items() if k != "weight"})
        options = {**defaults, **url_options, **spec}
    return NodeConfig(
        name=name,
        kind=node.kind,
        url=url,
        weight=weight,
        options=options,
        hosts=node.hosts,
        service=node.service,
        db=node.db,
        tls=node.tls,
    )


def _without_weight(url: str) -> str:
    base, _, query = url.partition("?")
    kept = [item for item in query.split("&") if item and not item.startswith("weight=")]
    return base + ("?" + "&".join(kept) if kept else "")


def _converted(options: dict[str, Any]) -> dict[str, Any]:
    """Query strings as redis-py's own URL parser converts them (timeouts, booleans...)."""
    from redis.connection import URL_QUERY_ARGUMENT_PARSERS

    converted: dict[str, Any] = {}
    for name, value in options.items():
        parser = URL_QUERY_ARGUMENT_PARSERS.get(name)
        converted[name] = parser(value) if parser is not None and value != "" else value
    return converted


def _parse_url(spot: str, url: str, known: frozenset[str]) -> NodeConfig:
    shown = redact(url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in (*_PLAIN, *_SENTINEL, *_CLUSTER):
        raise _error(
            spot,
            f"({shown!r}) is not a valid Redis URL: its scheme {scheme or '(none)'!r} is not "
            f"one of {(*_PLAIN, *_SENTINEL, *_CLUSTER)}",
        )
    problem = None
    try:
        node = _plain(url, scheme) if scheme in _PLAIN else _multi_host(url, scheme)
    except ValueError as exc:
        # The parser may quote a piece of a password cut at an unescaped "/", "#" or "@":
        # scrubbed, and raised outside this block so that its error is not the context.
        problem = scrub(str(exc), url)
    if problem is not None:
        raise _error(spot, f"({shown!r}) is not a valid Redis URL: {problem}")
    allowed = (
        known | {"weight", "db"} | (set(SENTINEL_QUERY_OPTIONS) if scheme in _SENTINEL else set())
    )
    bad = [key for key in node.options if key not in allowed]
    if bad:
        raise _error(
            spot,
            scrub(
                f"({shown!r}) is not a valid Redis URL: its query has unknown option {bad[0]!r}",
                url,
            ),
        )
    return node


def _query(query: str) -> dict[str, Any]:
    return dict(parse_qsl(query, keep_blank_values=True))


_db = parse_database


def _plain(url: str, scheme: str) -> NodeConfig:
    parts = urlsplit(url)
    if "@" in parts.path or "@" in parts.fragment:
        # A password with an unescaped "/" or "#": the rest would be taken for the path.
        raise ConfigurationError(
            "it has an '@' after its host: a password holding '/', '#', '?' or '@' must be "
            "URL-encoded (e.g. '/' as %2F)"
        )
    options = _query(parts.query)
    if scheme == "unix":
        if not parts.path:
            raise ConfigurationError("it names no socket path")
        db = _db(options.get("db", ""), "query")
        return NodeConfig(f"unix://{parts.path}?db={db}", "redis", url, 1, options, db=db)
    host = parts.hostname
    if not host or "," in parts.netloc:
        raise ConfigurationError(
            "it names no host"
            if not host
            else "a plain redis:// URL names one host; "
            "write redis+sentinel://... for Sentinels or redis+cluster://... for a cluster"
        )
    port = parts.port or 6379  # raises ValueError on a bad port
    path_db = parts.path.strip("/")
    db = _db(options.pop("db", None) or path_db, "path" if path_db else "query")
    name = f"redis://{host}:{port}/{db}"
    return NodeConfig(
        name, "redis", url, 1, options, hosts=((host, port),), db=db, tls=scheme == "rediss"
    )


def _multi_host(url: str, scheme: str) -> NodeConfig:
    parsed = parse_multi_host_url(url)
    return NodeConfig(
        parsed.name,
        parsed.kind,
        url,
        1,
        parsed.options,
        hosts=parsed.hosts,
        service=parsed.service,
        db=parsed.db,
        tls=parsed.tls,
    )


def check_weight(spot: str, weight: object, max_weight: float) -> float:
    """*weight* (a number, or a string from a URL's query) as a float in ``(0, max_weight]``.

    Checked by :func:`accord.core.validate.number`; E012 otherwise.
    """
    hint = (
        "A weight is a positive number relative to the other nodes, e.g. 1 for most nodes "
        "and 2 for one twice as big."
    )
    if not isinstance(weight, (str, int, float)):
        # A container is described by its type, never printed (it may hold a password).
        raise RingCacheConfigError(
            f"{spot} weight is {describe(weight)}, not a number.", check_id="accord.E012", hint=hint
        )
    try:
        return number(
            weight,
            f"{spot} weight",
            sep=" = ",
            minimum=0,
            above=True,
            maximum=max_weight,
            convert=True,
            # Why there is a maximum: said in the message, which a system check shows first.
            expected=f"a finite number > 0 and <= {max_weight:g} (each unit costs ring points)",
        )
    except ConfigurationError as exc:
        raise RingCacheConfigError(str(exc), check_id="accord.E012", hint=hint) from exc
