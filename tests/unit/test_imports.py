"""The dependency rule: the core never imports Django or Celery."""

from __future__ import annotations

import subprocess
import sys

import accord

CHECK = """
import importlib, pkgutil, sys
import accord, accord.core
for info in pkgutil.walk_packages(accord.core.__path__, "accord.core."):
    importlib.import_module(info.name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"django", "celery", "kombu"})
assert not loaded, f"accord.core imported {loaded}"
"""


def test_importing_accord_and_all_of_core_imports_neither_django_nor_celery() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_version_is_exposed() -> None:
    assert accord.__version__
