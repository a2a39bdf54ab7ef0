"""Deprecated: the ring's argument checks and hash resolution moved into :mod:`accord.core.ring`.

Argument checks are in :mod:`accord.core.ring.arguments`, hash resolution in
:mod:`accord.core.ring.resolve`. Every name is still importable from here,
with a ``DeprecationWarning`` naming its new module.
"""

from __future__ import annotations

from accord.core.moved import moved_attribute

_WHERE = {
    "resolve_hash": "accord.core.ring.resolve",
    "key_hasher": "accord.core.ring.resolve",
    "*": "accord.core.ring.arguments",
}


def __getattr__(name: str) -> object:
    return moved_attribute(__name__, name, _WHERE)
