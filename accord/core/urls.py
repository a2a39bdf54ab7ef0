"""URL helpers shared by every part of accord that takes server URLs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact"]

_PASSWORD = re.compile(r"(//[^:/@]*:)[^@]*@")


def redact(url: str) -> str:
    """Return *url* with any password replaced by ``***`` (for logs, errors, reprs, hooks).

    Never raises: a URL too malformed to parse is redacted by pattern.
    """
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return _PASSWORD.sub(r"\1***@", url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))
