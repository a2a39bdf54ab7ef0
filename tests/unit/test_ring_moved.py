"""The ring became a package: the old module paths still work, and warn naming the new one."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import accord.core.ring
from accord.core.ring import arguments, continuum, hashes, ketama, resolve

# (old module, a name it held, the module that holds it now)
MOVED = [
    ("accord.core.ketama", "key_hash", ketama),
    ("accord.core.ketama", "DIALECTS", ketama),
    ("accord.core.continuum", "Continuum", continuum),
    ("accord.core.hashes", "md5", hashes),
    ("accord.core.hashes", "BUILTIN", hashes),
    ("accord.core.ring_checks", "resolve_hash", resolve),
    ("accord.core.ring_checks", "key_hasher", resolve),
    ("accord.core.ring_checks", "check_weight", arguments),
    ("accord.core.ring_checks", "DEFAULT_VNODES", arguments),
]


@pytest.mark.parametrize(("old", "name", "new"), MOVED)
def test_a_name_of_an_old_ring_module_still_works(old: str, name: str, new: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert getattr(importlib.import_module(old), name) is getattr(new, name)


@pytest.mark.parametrize(("old", "name", "new"), MOVED)
def test_a_name_of_an_old_ring_module_warns_naming_its_new_module(
    old: str, name: str, new: object
) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"import {name} from {new.__name__}"):  # type: ignore[attr-defined]
        getattr(module, name)


def test_a_name_no_ring_module_has_is_an_attribute_error_without_warning() -> None:
    module = importlib.import_module("accord.core.ketama")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="nope"):
            module.nope  # noqa: B018


def test_the_warning_points_at_the_importing_line() -> None:
    code = "from accord.core.hashes import md5"
    result = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr.startswith("<string>:1: DeprecationWarning")


@pytest.mark.parametrize(
    "name",
    [
        "HashRing",
        "DEFAULT_HASH",
        "DEFAULT_VNODES",
        "KeyFunction",
        "Weight",
        "ConfigurationError",
        "EmptyRingError",
        "RingTypeError",
    ],
)
def test_every_name_of_the_old_ring_module_imports_from_the_package_without_warning(
    name: str,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(accord.core.ring, name) is not None
