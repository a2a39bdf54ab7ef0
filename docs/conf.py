"""Sphinx configuration for accord's documentation."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import accord

project = "accord"
author = "The accord developers"
copyright = "2026, the accord developers"
release = accord.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
# Optional dependencies are imported where they are used; the docs build does
# not need them installed.
autodoc_mock_imports = ["redis", "kazoo", "psycopg", "MySQLdb", "celery", "kombu"]

html_theme = "furo"
html_title = f"accord {release}"
html_static_path = ["_static"]
templates_path: list[str] = []
exclude_patterns = ["_build"]
