"""``redis+sentinel://`` and ``redis+cluster://`` URLs: several hosts, one Redis service.

Failure behaviour first: :func:`parse_multi_host_url` raises ``ValueError``
with what is wrong (no host, a bad port, a path that is not
``/service[/db]``); callers wrap it in their own error with the URL redacted
(the cache's ``RingCacheConfigError``, the lock's ``ConfigurationError``).
Nothing here connects or imports redis-py.

The one reading of these URLs, shared by RingCache and the Redis Sentinel
lock, so that both accept exactly the same strings::

    redis+sentinel://[[user]:password@]s1[:26379],s2[:26379]/service[/db][?option=value...]
    rediss+sentinel://...                          # TLS to the data nodes
    redis+cluster://[[user]:password@]h1[:6379],h2[:6379][?option=value...]

The user and password go to the data nodes; ``sentinel_username`` and
``sentinel_password`` in the query go to the Sentinels
(:func:`split_sentinel_options`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from accord.core.errors import ConfigurationError

__all__ = [
    "CLUSTER_SCHEMES",
    "SENTINEL_QUERY_OPTIONS",
    "SENTINEL_SCHEMES",
    "MultiHostURL",
    "parse_database",
    "parse_multi_host_url",
    "split_sentinel_options",
]

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
#: Query options of a Sentinel URL meant for the Sentinels, not the data nodes.
SENTINEL_QUERY_OPTIONS = ("sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class MultiHostURL:
    """A parsed Sentinel or Cluster URL. ``options`` are the query's strings plus the
    URL's ``username``/``password`` (never shown by ``repr``)."""

    kind: str  # "sentinel" or "cluster"
    hosts: tuple[tuple[str, int], ...]
    service: str = ""
    db: int = 0
    tls: bool = False
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """What identifies the data: ``redis+sentinel://service/db``, or the cluster's hosts."""
        if self.kind == "sentinel":
            return f"redis+sentinel://{self.service}/{self.db}"
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.hosts)


def parse_database(value: str, where: str) -> int:
    """The database number *value* (``""`` is 0); ValueError naming *where* it was found."""
    if value == "":
        return 0
    if not value.isdigit():
        raise ConfigurationError(f"the database {value!r} in its {where} is not a number")
    return int(value)


def parse_multi_host_url(url: str) -> MultiHostURL:
    """Read a ``redis+sentinel://`` or ``redis+cluster://`` URL; ValueError if malformed."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in (*SENTINEL_SCHEMES, *CLUSTER_SCHEMES):
        accepted = (*SENTINEL_SCHEMES, *CLUSTER_SCHEMES)
        raise ConfigurationError(f"its scheme {scheme or '(none)'!r} is not one of {accepted}")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if not at:
        hostlist = netloc
    sentinel = scheme in SENTINEL_SCHEMES
    default_port = 26379 if sentinel else 6379
    hosts = tuple(_host(h.strip(), default_port) for h in hostlist.split(",") if h.strip())
    if not hosts:
        raise ConfigurationError("it names no host")
    options: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    tls = scheme.startswith("rediss")
    if userinfo:
        user, colon, password = userinfo.partition(":")
        if user:
            options.setdefault("username", unquote(user))
        if colon:
            options.setdefault("password", unquote(password))
    segments = [s for s in path.split("/") if s]
    if sentinel:
        if not segments:
            raise ConfigurationError("it names no Sentinel service (write .../mymaster/0)")
        if len(segments) > 2:
            raise ConfigurationError(f"its path {path!r} is not /service[/db]")
        db = parse_database(
            options.pop("db", None) or (segments[1] if len(segments) > 1 else ""), "path"
        )
        return MultiHostURL(
            "sentinel", hosts, service=unquote(segments[0]), db=db, tls=tls, options=options
        )
    if segments and segments != ["0"]:
        raise ConfigurationError(f"a Redis Cluster has only database 0, not {path!r}")
    return MultiHostURL("cluster", hosts, tls=tls, options=options)


def _host(text: str, default_port: int) -> tuple[str, int]:
    host, colon, port = (
        text.rpartition(":") if text.count(":") == 1 or text.startswith("[") else (text, "", "")
    )
    if not colon:
        return (text.strip("[]"), default_port)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(
            f"the port {port!r} of {host!r} is not a number between 1 and 65535"
        )
    return (host.strip("[]"), int(port))


def split_sentinel_options(
    options: Mapping[str, Any], *, tls: bool, db: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(keyword arguments for the Sentinels, for the data nodes) of a Sentinel URL's *options*.

    Socket and TLS options go to both; ``sentinel_username``/``sentinel_password``
    to the Sentinels only (without their prefix); the rest to the data nodes.
    """
    data = {k: v for k, v in options.items() if k not in SENTINEL_QUERY_OPTIONS}
    sentinel = {k: v for k, v in data.items() if k.startswith(("socket_", "ssl"))}
    for name in SENTINEL_QUERY_OPTIONS:
        if name in options:
            sentinel[name.removeprefix("sentinel_")] = options[name]
    if tls:
        data["ssl"] = True
        sentinel.setdefault("ssl", True)
    data["db"] = db
    return sentinel, data
