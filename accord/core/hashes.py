"""Deprecated: the built-in hash functions moved to :mod:`accord.core.ring.hashes`.

Every name is still importable from here, with a ``DeprecationWarning``
naming the new module.
"""

from __future__ import annotations

from accord.core.moved import moved_attribute


def __getattr__(name: str) -> object:
    return moved_attribute(__name__, name, {"*": "accord.core.ring.hashes"})
