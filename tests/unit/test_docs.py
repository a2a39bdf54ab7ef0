"""Every hook is documented: in its spec's docstring and in the hook reference page."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from accord.core import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs"
SPECS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if name.startswith("accord_") and inspect.isfunction(obj)
)


def test_every_hook_is_named_accord_something() -> None:
    assert SPECS
    assert all(re.fullmatch(r"accord_[a-z_]+", name) for name in SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_hook_is_in_the_hook_reference_page(name: str) -> None:
    page = (DOCS / "hooks.rst").read_text()
    assert f".. autofunction:: accord.core.hookspecs.{name}\n" in page


@pytest.mark.parametrize("name", SPECS)
def test_hook_docstring_documents_every_parameter(name: str) -> None:
    spec = getattr(hookspecs, name)
    doc = inspect.getdoc(spec) or ""
    assert len(doc.splitlines()[0]) > 10, f"{name} has no summary line"
    for param in inspect.signature(spec).parameters:
        assert f":param {param}:" in doc, f"{name} does not document {param!r}"
