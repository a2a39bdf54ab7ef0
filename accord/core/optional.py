"""Importing optional dependencies where they are used.

accord's core needs only pluggy and xxhash. Everything else (redis, kazoo,
psycopg, mysqlclient, Django, Celery) is an extra, imported by the code that
uses it, so that e.g. the file lock works without redis installed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from accord.core.errors import MissingDependency

__all__ = ["import_optional"]


def import_optional(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import and return *module*, which the accord extra *extra* installs.

    :param module: the module to import, e.g. ``"redis"``.
    :param extra: the accord extra that installs it, e.g. ``"redis"``.
    :param purpose: what needs it, in words, e.g. ``"Redis locks"``.
    :raises MissingDependency: *module* is not installed; the message names
        *purpose* and the ``pip install "accord[<extra>]"`` that fixes it, and
        the ``ImportError`` is chained.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{purpose} need the {module!r} package, which is not installed "
            f'({exc}). Install it with: pip install "accord[{extra}]"'
        ) from exc
