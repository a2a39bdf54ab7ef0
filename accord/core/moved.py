"""Modules that moved: the old module answers each name from the new one, with a warning.

An old module keeps only a docstring and::

    def __getattr__(name: str) -> object:
        return moved_attribute(__name__, name, {"*": "accord.new.module"})

so ``from old import name`` keeps working and raises ``DeprecationWarning``
naming the new module (listed under "Changes" in the docs). Used by
``accord.core.ketama``, ``.continuum``, ``.hashes``, ``.ring_checks``,
``accord.core.lock.cli`` and ``accord.contrib.django.cache.aexecute``.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping


def moved_attribute(old: str, name: str, where: Mapping[str, str]) -> object:
    """*name* from its new module (``where[name]``, else ``where["*"]``), warning once per use.

    :raises AttributeError: the new module has no *name* either (no warning).
    """
    if name.startswith("__"):  # import machinery and tools probing dunders: no warning
        raise AttributeError(f"module {old!r} has no attribute {name!r}")
    new = where.get(name, where["*"])
    module = importlib.import_module(new)
    if not hasattr(module, name):
        raise AttributeError(f"module {old!r} has no attribute {name!r}")
    warnings.warn(
        f"{old}.{name} is deprecated: import {name} from {new}",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(module, name)
