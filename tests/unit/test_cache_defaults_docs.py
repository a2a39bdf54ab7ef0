"""The tables of RingCache option defaults in the docs say what RingOptions holds."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from accord.contrib.django.cache.options import RingOptions

DOCS = Path(__file__).resolve().parents[2] / "docs"
FIELDS = {field.name: field.default for field in dataclasses.fields(RingOptions)}
# A table row: ``option``, then the default column, each followed by two spaces or more.
ROW = re.compile(r"^``(?P<name>\w+)``\s{2,}(?P<default>\S+)(?:\s{2,}|$)")


def documented_defaults(page: str) -> dict[str, str]:
    rows = (ROW.match(line) for line in (DOCS / page).read_text().splitlines())
    return {row["name"]: row["default"] for row in rows if row and row["name"] in FIELDS}


def test_the_cache_guide_lists_every_option() -> None:
    assert set(documented_defaults("cache.rst")) == set(FIELDS)


@pytest.mark.parametrize("page", ["cache.rst", "settings.rst"])
def test_every_default_in_the_docs_is_the_dataclass_default(page: str) -> None:
    documented = documented_defaults(page)
    assert documented, f"no table of RingCache options in {page}"
    for name, cell in documented.items():
        if cell.startswith("``"):
            # A literal: it must be the dataclass's value (30 for 30.0 is fine).
            assert ast.literal_eval(cell.strip("`")) == FIELDS[name], (page, name, cell)
        else:
            # Words ("pickle", "redis-py's", "ring's", "--"): the dataclass holds None.
            assert FIELDS[name] is None, (page, name, cell)
