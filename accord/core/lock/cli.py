"""Deprecated: the ``accord`` command moved to :mod:`accord.cli`.

It is no longer only the lock's: ``accord ring`` joined ``accord lock``.
Every name (``main``, ``EXIT_BUSY``...) is still importable from here, with a
``DeprecationWarning``; the ``accord`` console script runs :func:`accord.cli.main`.
"""

from __future__ import annotations

from accord.core.moved import moved_attribute


def __getattr__(name: str) -> object:
    return moved_attribute(__name__, name, {"*": "accord.cli"})
