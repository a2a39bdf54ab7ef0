"""URL helpers shared by every part of accord that takes server URLs.

Failure behaviour first: nothing here raises, whatever the string. When a URL
is ambiguous (a password with an unescaped ``/``, ``#``, ``?``, ``@`` or
``&``) more is hidden rather than less.

:func:`redact` is the one way accord shows a URL; :func:`scrub` hides the
same secrets inside a text derived from a URL (a parser's or a driver's
error message), which may hold a piece of a password that a parser cut at
an unescaped separator.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

__all__ = ["SECRET_QUERY_NAMES", "redact", "scrub"]

#: Query arguments whose values are secrets (matched case-insensitively, after URL-decoding,
#: also as a suffix, e.g. ``sentinel_password``).
SECRET_QUERY_NAMES = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "credential_provider",
    "auth",
    "auth_data",
)
# Where a query item starts: its name, up to "=". A secret's value runs to the next item.
_ITEM_START = re.compile(r"[?&;]([^=&;#?]*)=")
# A secret's pieces, as a parser that cut it at an unescaped separator may show them.
_SEPARATORS = re.compile(r"[/#?@&;:]")
_MIN_PIECE = 3


def _is_secret(name: str) -> bool:
    name = unquote_plus(name).lower()
    return any(name == s or name.endswith(("_" + s, "-" + s)) for s in SECRET_QUERY_NAMES)


def _secret_spans(url: str) -> list[tuple[int, int]]:
    """Where the secrets of *url* are, as merged ``(start, end)`` spans."""
    spans: list[tuple[int, int]] = []
    head, sep, rest = url.partition("//")
    if sep and "@" in rest:
        # The userinfo ends at the LAST "@": a password with "/", "#", "?" or "@" stays whole.
        userinfo = rest.rpartition("@")[0]
        colon = userinfo.find(":")
        if colon >= 0 and colon + 1 < len(userinfo):
            start = len(head) + len(sep) + colon + 1
            spans.append((start, len(head) + len(sep) + len(userinfo)))
    items = list(_ITEM_START.finditer(url))
    for i, item in enumerate(items):
        # A secret value runs through "#" and lone "&" to the next "name=" item.
        end = items[i + 1].start() if i + 1 < len(items) else len(url)
        if _is_secret(item.group(1)) and item.end() < end:
            spans.append((item.end(), end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def redact(url: object) -> str:
    """Return *url* with every password replaced by ``***`` (for logs, errors, reprs, hooks).

    Replaced: the password of the user information (everything between the
    first ``:`` after ``//`` and the **last** ``@``, so a password with an
    unescaped ``/``, ``#``, ``?`` or ``@`` is hidden whole), and the value of
    query arguments such as ``password=``, ``sentinel_password=``, ``auth=``
    or ``token=`` (see :data:`SECRET_QUERY_NAMES`; the name also URL-encoded),
    up to the next ``&name=`` item (so an unescaped ``#`` or ``&`` in it is
    hidden too). Never raises; anything that is not a string is shown by its
    type only.
    """
    if not isinstance(url, str):
        return f"<a {type(url).__name__}>"
    shown, last = [], 0
    for start, end in _secret_spans(url):
        shown += [url[last:start], "***"]
        last = end
    shown.append(url[last:])
    return "".join(shown)


def scrub(text: str, url: str) -> str:
    """Return *text* with every secret of *url* replaced by ``***``.

    For a message derived from *url* (a parser's or a server driver's error):
    hides each secret :func:`redact` would hide, URL-decoded too, and its
    pieces of 3 characters or more between unescaped separators (which a
    parser may have shown apart), then redacts any copy of the URL itself.
    Never raises.
    """
    secrets: set[str] = set()
    for start, end in _secret_spans(url):
        for secret in (url[start:end], unquote(url[start:end])):
            secrets.add(secret)
            secrets.update(p for p in _SEPARATORS.split(secret) if len(p) >= _MIN_PIECE)
    text = text.replace(url, redact(url))
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def moved_redact(module: str, name: str) -> object:
    """A module ``__getattr__`` body for the old re-exports of :func:`redact` (deprecated)."""
    if name != "redact":
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    import warnings

    warnings.warn(
        f"{module}.redact is deprecated: import redact from accord.core.urls",
        DeprecationWarning,
        stacklevel=3,
    )
    return redact
