"""``zookeeper://[user:password@]host:port[,host:port...]/path`` URLs, with their credentials.

Failure behaviour first: :func:`parse_zookeeper_url` raises
:class:`~accord.core.errors.ConfigurationError` for a URL of another scheme,
without a host, with a user but no password, or with an unescaped ``/``,
``#`` or ``?`` in the password, naming the URL with its password redacted. Nothing here connects.

Credentials in the URL are used, never dropped: :meth:`ZooKeeperURL.client_options`
gives kazoo's ``auth_data`` (digest authentication) and a ``default_acl``
that lets only that user read and write the znodes the client creates. Without
credentials the znodes are open to anyone who can reach ZooKeeper (kazoo's
default ``world:anyone``), which the system checks warn about where it
matters (a decision log). Shared by every ZooKeeper backend of accord.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from accord.core.errors import ConfigurationError
from accord.core.optional import import_optional
from accord.core.urls import redact

__all__ = ["ZooKeeperURL", "parse_zookeeper_url"]


@dataclass(frozen=True)
class ZooKeeperURL:
    """Where a ZooKeeper ensemble is, the path under it, and who to authenticate as."""

    hosts: str
    path: str
    user: str = ""
    password: str = field(default="", repr=False)  # never in a repr

    def client_options(self) -> dict[str, Any]:
        """``KazooClient`` keyword arguments: digest auth and a creator-only ACL, if a user."""
        if not self.user:
            return {}
        security = import_optional("kazoo.security", extra="zookeeper", purpose="ZooKeeper")
        return {
            "auth_data": [("digest", f"{self.user}:{self.password}")],
            "default_acl": [security.make_digest_acl(self.user, self.password, all=True)],
        }


def parse_zookeeper_url(url: str, *, default_path: str) -> ZooKeeperURL:
    """Parse *url* (see the module docstring); *default_path* when it names none."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc and "@" in url.partition("//")[2]:
        # "user:pa/ss@host": the parser cut the password at an unescaped "/", "#" or "?",
        # and would take a piece of it for the host (and show it in errors).
        raise ConfigurationError(
            f"ZooKeeper URL {redact(url)!r} is invalid: its user information holds an "
            "unescaped '/', '#' or '?'; percent-encode them in the password "
            "(%2F, %23, %3F)"
        )
    userinfo, _, hosts = parts.netloc.rpartition("@")
    if parts.scheme != "zookeeper" or not hosts:
        raise ConfigurationError(
            f"ZooKeeper URL {redact(url)!r} is invalid; expected "
            "'zookeeper://[user:password@]host:port[,host:port]/path'"
        )
    user, has_password, password = userinfo.partition(":")
    if user and not has_password:
        raise ConfigurationError(
            f"ZooKeeper URL {redact(url)!r} names user {urllib.parse.unquote(user)!r} without "
            "a password; expected 'zookeeper://user:password@host:port/path'"
        )
    return ZooKeeperURL(
        hosts=hosts,
        path=parts.path.rstrip("/") or default_path,
        user=urllib.parse.unquote(user),
        password=urllib.parse.unquote(password),
    )
