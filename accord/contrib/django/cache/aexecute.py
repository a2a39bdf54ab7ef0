"""Deprecated: the cache's async executor moved to :mod:`accord.contrib.django.cache.aio`.

``aio`` is the name of every async twin in accord (``accord.core.lock.aio``
too). Every name is still importable from here, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from accord.core.moved import moved_attribute


def __getattr__(name: str) -> object:
    return moved_attribute(__name__, name, {"*": "accord.contrib.django.cache.aio"})
