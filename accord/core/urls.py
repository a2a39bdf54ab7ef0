"""URL helpers shared by every part of accord that takes server URLs."""

from __future__ import annotations

import re

__all__ = ["SECRET_QUERY_NAMES", "redact"]

#: Query arguments whose values are secrets (matched case-insensitively, also as a suffix,
#: e.g. ``sentinel_password``).
SECRET_QUERY_NAMES = ("password", "passwd", "pwd", "secret", "token", "credential_provider")
_QUERY_ITEM = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")


def _is_secret(name: str) -> bool:
    name = name.lower()
    return any(name == s or name.endswith(("_" + s, "-" + s)) for s in SECRET_QUERY_NAMES)


def redact(url: str) -> str:
    """Return *url* with every password replaced by ``***`` (for logs, errors, reprs, hooks).

    Replaced: the password of the user information (everything between the
    first ``:`` after ``//`` and the **last** ``@`` before the path, so a
    password with an unescaped ``/``, ``#``, ``?`` or ``@`` is hidden whole),
    and the value of query arguments such as ``password=``, ``...-password=``
    or ``token=`` (see :data:`SECRET_QUERY_NAMES`). Never raises.
    """
    scheme, sep, rest = url.partition("//")
    if sep and "@" in rest:
        userinfo, _, tail = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if colon:
            rest = f"{user}:***@{tail}"
    return _QUERY_ITEM.sub(_hide_secret, scheme + sep + rest)


def _hide_secret(match: re.Match[str]) -> str:
    lead, name, value = match.groups()
    return f"{lead}{name}=***" if _is_secret(name) and value else match.group(0)
