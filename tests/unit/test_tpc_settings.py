"""``ACCORD["TPC"]`` validation: every bad value is refused, naming the key and the value."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from accord.contrib.django.tpc.config import TPCSettings, parse_settings
from accord.core.errors import ConfigurationError


def test_an_empty_entry_gives_the_defaults() -> None:
    assert parse_settings({"TPC": {}}) == TPCSettings(recover_nodes=("default",))


@pytest.mark.parametrize("value", [math.nan, math.inf, -1, "60", True, None])
def test_a_recovery_delay_that_is_not_a_finite_number_of_seconds_is_refused(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="RECOVERY_DELAY") as info:
        parse_settings({"TPC": {"RECOVERY_DELAY": value}})
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [math.nan, 0, 0.0, -5])
def test_a_retention_that_would_purge_everything_is_refused(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="DECISION_RETENTION"):
        parse_settings({"TPC": {"DECISION_RETENTION": value}})


def test_a_retention_must_be_much_larger_than_the_recovery_delay() -> None:
    with pytest.raises(ConfigurationError, match=r"at least 10 x RECOVERY_DELAY \(600 s\)"):
        parse_settings({"TPC": {"RECOVERY_DELAY": 60, "DECISION_RETENTION": 599}})
    assert parse_settings({"TPC": {"RECOVERY_DELAY": 60, "DECISION_RETENTION": 600}})


@pytest.mark.parametrize("value", [5, "web-1", [1, 2], {"web-1": 1}])
def test_recover_nodes_must_be_a_list_of_strings(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="RECOVER_NODES") as info:
        parse_settings({"TPC": {"RECOVER_NODES": value}})
    assert "expected a list of strings" in str(info.value)


@pytest.mark.parametrize("accord", [["TPC"], "TPC", 3])
def test_an_accord_setting_that_is_not_a_dict_is_refused(accord: Any) -> None:
    with pytest.raises(ConfigurationError, match="expected a dict") as info:
        parse_settings(accord)
    assert repr(accord) in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("PREPARE_TIMEOUT", 0), ("PREPARE_TIMEOUT", math.nan), ("PHASE_TWO_TIMEOUT", -1)],
)
def test_timeouts_are_positive_finite_seconds(key: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=key):
        parse_settings({"TPC": {key: value}})


def test_timeouts_are_read() -> None:
    conf = parse_settings({"TPC": {"PREPARE_TIMEOUT": 2.5, "PHASE_TWO_TIMEOUT": 0}})
    assert (conf.prepare_timeout, conf.phase_two_timeout) == (2.5, 0.0)


def test_the_settings_are_parsed_again_whenever_they_change() -> None:
    # get_settings() keeps what it parsed; a change of any kind must still be seen.
    code = textwrap.dedent(
        """
        import django
        from django.conf import settings
        from django.test import override_settings

        settings.configure(ACCORD={"TPC": {"NODE": "a", "RECOVERY_DELAY": 1}})
        django.setup()
        from accord.contrib.django.tpc.config import get_settings
        from accord.core.errors import ConfigurationError

        assert get_settings().node == "a"
        settings.ACCORD["TPC"]["NODE"] = "b"  # edited in place
        assert get_settings().node == "b"
        with override_settings(ACCORD={"TPC": {"NODE": "c"}}):
            assert get_settings().node == "c"
        assert get_settings().node == "b"
        settings.ACCORD = {"TPC": {"NODE": "b", "RECOVERY_DELAY": True}}  # == 1, but refused
        try:
            get_settings()
        except ConfigurationError as exc:
            assert "RECOVERY_DELAY" in str(exc)
        else:
            raise AssertionError("RECOVERY_DELAY = True was accepted")
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


NUMBER_KEYS = ["RECOVERY_DELAY", "DECISION_RETENTION", "PHASE_TWO_TIMEOUT", "PREPARE_TIMEOUT"]


@pytest.mark.parametrize("key", NUMBER_KEYS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "5"])
def test_every_number_setting_refuses_nan_infinity_bools_and_strings_in_one_wording(
    key: str, value: Any
) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_settings({"TPC": {key: value}})
    message = str(info.value)
    assert message.startswith(f'ACCORD["TPC"]["{key}"] = {value!r} is invalid: expected ')
    assert "finite number of seconds" in message


@pytest.mark.parametrize("options", [["timeout"], "timeout=5", {1: 2}])
def test_decision_log_options_must_be_a_dict_of_names(options: Any) -> None:
    with pytest.raises(ConfigurationError, match="DECISION_LOG_OPTIONS") as info:
        parse_settings({"TPC": {"DECISION_LOG_OPTIONS": options}})
    assert "expected a dict" in str(info.value)


def test_decision_log_options_are_read() -> None:
    conf = parse_settings({"TPC": {"DECISION_LOG_OPTIONS": {"timeout": 2}}})
    assert conf.decision_log_options == {"timeout": 2}


def test_an_unknown_key_is_refused_naming_every_accepted_one() -> None:
    with pytest.raises(ConfigurationError, match="unknown keys \\['RETENTION'\\]") as info:
        parse_settings({"TPC": {"RETENTION": 5}})
    for field in dataclasses.fields(TPCSettings):
        assert field.name.upper() in str(info.value)


def _documented_defaults(path: Path) -> dict[str, str]:
    """The ``ACCORD["TPC"]`` table of *path*: key -> default, as written."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*``([A-Z_]+)``\s+(\S+)\s", line)
        if match and match.group(1) in {f.name.upper() for f in dataclasses.fields(TPCSettings)}:
            found[match.group(1)] = match.group(2).strip("`")
    return found


def _as_written(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


@pytest.mark.parametrize("page", ["settings.rst", "tpc.rst"])
def test_the_documented_defaults_are_the_dataclass_defaults(page: str) -> None:
    documented = _documented_defaults(Path(__file__).parents[2] / "docs" / page)
    defaults = TPCSettings()
    for field in dataclasses.fields(TPCSettings):
        key = field.name.upper()
        assert key in documented, f"{page} does not list {key}"
        value = getattr(defaults, field.name)
        if key == "RECOVER_NODES":
            assert value == ()
            assert documented[key] == "[NODE]"
        elif key == "DECISION_LOG_OPTIONS":
            assert value == {}
            assert documented[key] == "{}"
        else:
            assert documented[key] == _as_written(value), key


def test_the_zookeeper_log_refuses_options_it_does_not_take() -> None:
    from accord.core.tpc.builtins import accord_decision_log

    with pytest.raises(ConfigurationError, match="expected only 'timeout'"):
        accord_decision_log("zookeeper", "zookeeper://127.0.0.1:2181/x", {"retries": 3})


@pytest.mark.parametrize("timeout", [0, math.nan, math.inf, "5"])
def test_the_zookeeper_log_refuses_a_timeout_that_is_not_positive_finite_seconds(
    timeout: Any,
) -> None:
    from accord.core.tpc.zookeeper import ZooKeeperDecisionLog

    with pytest.raises(ConfigurationError, match="timeout"):
        ZooKeeperDecisionLog("zookeeper://127.0.0.1:2181/x", timeout=timeout)
