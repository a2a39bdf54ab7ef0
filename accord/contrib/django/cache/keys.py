"""Key rules shared by routing and commands: hash tags, stand-in copies, readmission markers.

No I/O, no state. See docs/cache.rst, "Failover", for why stand-in copies
and markers are named this way.
"""

from __future__ import annotations

import re

__all__ = [
    "STAND_IN_MARK",
    "glob_escape",
    "hash_tag",
    "is_internal",
    "marker_key",
    "stand_in_key",
]

#: Separates a key from the suffix that makes it a stand-in copy.
STAND_IN_MARK = "\x1faccord-stand-in\x1f"
_MARKER = "\x1faccord-readmitted\x1f"
_GLOB = re.compile(r"([*?\[\]\\])")


def hash_tag(key: bytes) -> bytes:
    """Redis Cluster's rule: hash only the first ``{...}`` body, if it is not empty."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def marker_key(prefix: str, node: str) -> str:
    """The key, on every other node, that tells when *node* was last readmitted."""
    return f"{prefix}:{_MARKER}{node}"


def stand_in_key(key: str, home: str, epoch: str) -> str:
    """Where a stand-in keeps its copy of *key* (of *home*) during the outage *epoch*.

    Copies of one outage are invisible in any other (a new readmission marker
    makes a new epoch), so none can resurface at a later ejection.
    """
    return f"{key}{STAND_IN_MARK}{home}\x1f{epoch}"


def is_internal(key: bytes | str) -> bool:
    """True for stand-in copies and markers, which ``iter_keys`` never shows."""
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    return "\x1faccord-" in text


def glob_escape(text: str) -> str:
    """*text* with Redis glob characters escaped (for ``SCAN MATCH``)."""
    return _GLOB.sub(r"\\\1", text)
