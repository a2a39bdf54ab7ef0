"""The ``accord`` command lives in accord.cli; ``accord ring`` prints where keys go.

Each test runs the real command in a subprocess, as a user would.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import warnings
from typing import Any

import pytest

import accord.cli
from accord.core.ring import HashRing

ACCORD = [sys.executable, "-c", "import sys; from accord.cli import main; sys.exit(main())"]
NODES = ["cache-a:6379", "cache-b:6379", "cache-c:6379"]
SECRET_NODE = "redis://:s3cret@cache-d:6379/0"


def accord_cmd(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ACCORD, *args], capture_output=True, text=True, timeout=60, **kwargs)


def keys_flags(keys: list[str]) -> list[str]:
    return [arg for key in keys for arg in ("--key", key)]


# ------------------------------------------------------------------ the move


def test_the_console_script_runs_accord_cli_main() -> None:
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="accord")
    assert script.value == "accord.cli:main"


def test_the_installed_accord_command_has_both_subcommands() -> None:
    command = os.path.join(os.path.dirname(sys.executable), "accord")
    result = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "lock" in result.stdout
    assert "ring" in result.stdout


def test_the_old_cli_module_still_gives_main() -> None:
    old = importlib.import_module("accord.core.lock.cli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert old.main is accord.cli.main
        assert old.EXIT_BUSY == accord.cli.EXIT_BUSY


def test_the_old_cli_module_warns_naming_accord_cli() -> None:
    old = importlib.import_module("accord.core.lock.cli")
    with pytest.warns(DeprecationWarning, match=r"import main from accord\.cli"):
        old.main  # noqa: B018


# ---------------------------------------------------------------- accord ring


def test_ring_prints_each_key_and_the_node_a_hash_ring_gives_it() -> None:
    keys = [f"user:{i}" for i in range(20)]
    result = accord_cmd("ring", *NODES, *keys_flags(keys))
    assert result.returncode == 0, result.stderr
    ring = HashRing(NODES)
    assert result.stdout.splitlines() == [f"{key}\t{ring.get_node(key)}" for key in keys]


def test_ring_with_n_prints_the_preference_list() -> None:
    result = accord_cmd("ring", *NODES, "--key", "user:1", "-n", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"user:1\t{' '.join(HashRing(NODES).get_nodes('user:1', 3))}\n"


@pytest.mark.parametrize("hash_name", ["md5", "ketama", "ketama-libmemcached"])
def test_ring_hash_option_places_keys_as_the_ring_with_that_hash(hash_name: str) -> None:
    keys = [f"k{i}" for i in range(20)]
    result = accord_cmd("ring", *NODES, "--hash", hash_name, *keys_flags(keys))
    assert result.returncode == 0, result.stderr
    ring = HashRing(NODES, hash=hash_name)
    assert result.stdout.splitlines() == [f"{key}\t{ring.get_node(key)}" for key in keys]


def test_ring_vnodes_and_weights_are_those_of_the_ring() -> None:
    keys = [f"k{i}" for i in range(50)]
    args = ["--vnodes", "40", "--weight", "cache-b:6379=3", *keys_flags(keys)]
    result = accord_cmd("ring", *NODES, *args)
    assert result.returncode == 0, result.stderr
    ring = HashRing({**dict.fromkeys(NODES, 1), "cache-b:6379": 3}, vnodes=40)
    assert result.stdout.splitlines() == [f"{key}\t{ring.get_node(key)}" for key in keys]


def test_ring_prints_a_node_url_without_its_password() -> None:
    keys = [f"user:{i}" for i in range(40)]
    result = accord_cmd("ring", "cache-a:6379", SECRET_NODE, *keys_flags(keys))
    assert result.returncode == 0, result.stderr
    assert "redis://:***@cache-d:6379/0" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--weight", f"{SECRET_NODE}=-1"],
        ["-n", "5"],
        ["--weight", "nope=2"],
        ["--bogus", SECRET_NODE],
    ],
)
def test_ring_errors_never_show_a_password(args: list[str]) -> None:
    result = accord_cmd("ring", "cache-a:6379", SECRET_NODE, "--key", "k", *args)
    assert result.returncode == 2
    assert "s3cret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hash", "sha9"], "unknown hash 'sha9'"),
        (["--vnodes", "0"], "vnodes=0 is invalid: expected an integer from 1 to 1048576"),
        (["--vnodes", "x"], "--vnodes 'x' is invalid: expected an integer"),
        (["--hash", "ketama", "--vnodes", "10"], "ketama fixes 160 points"),
        (["--weight", "cache-a:6379=nan"], "--weight cache-a:6379='nan' is invalid"),
        (["-n", "4"], "n=4 is invalid: expected an integer from 0 to 3"),
    ],
)
def test_ring_bad_arguments_exit_2_naming_the_value(args: list[str], message: str) -> None:
    result = accord_cmd("ring", *NODES, "--key", "k", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("accord ring: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_ring_without_a_key_is_a_usage_error() -> None:
    result = accord_cmd("ring", *NODES)
    assert result.returncode == 2
    assert "--key" in result.stderr
