"""A missing optional dependency names the extra that installs it."""

from __future__ import annotations

import pytest

from accord.core.errors import MissingDependency
from accord.core.optional import import_optional


def test_installed_module_is_returned() -> None:
    assert import_optional("json", extra="none", purpose="tests").dumps([]) == "[]"


def test_missing_module_names_the_extra_and_the_purpose() -> None:
    with pytest.raises(
        MissingDependency, match=r"Redis locks need .*pip install \"accord\[redis\]\""
    ):
        import_optional("accord_no_such_module", extra="redis", purpose="Redis locks")


def test_missing_dependency_is_an_import_error() -> None:
    with pytest.raises(ImportError):
        import_optional("accord_no_such_module", extra="redis", purpose="Redis locks")
