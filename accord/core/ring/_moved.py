"""What the deprecated modules ``accord.core.ketama``, ``.continuum``, ``.hashes``
and ``.ring_checks`` answer: the name from its new module, with a warning."""

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
