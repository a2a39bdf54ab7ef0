"""No password of a decision-log URL in what two-phase commit shows: urls, reprs, errors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from accord.core.errors import ConfigurationError, DecisionLogError
from accord.core.tpc.coordinator import GlobalTransaction
from accord.core.tpc.xid import Xid
from accord.core.tpc.zookeeper import ZooKeeperDecisionLog

SECRET = "s3cret-pw"


@pytest.mark.parametrize(
    "url",
    [
        f"zookeeper://alice:{SECRET}@127.0.0.1:2181/accord/tpc",
        f"zookeeper://127.0.0.1:2181/accord/tpc?password={SECRET}",
        f"zookeeper://alice:{SECRET}%2F%23@127.0.0.1:2181/accord/tpc",
    ],
    ids=["userinfo", "query", "escaped-slash-and-hash"],
)
def test_a_zookeeper_log_shows_its_url_redacted_and_keeps_the_password_private(url: str) -> None:
    log = ZooKeeperDecisionLog(url)
    assert SECRET not in log.url
    assert "***" in log.url
    assert SECRET not in repr(log) + repr(vars(log)) + repr(log.root)


@pytest.mark.parametrize(
    ("url", "pieces"),
    [
        ("zookeeper://alice:p4ss/w0rd-x@127.0.0.1:2181/accord/tpc", ["p4ss", "w0rd-x"]),
        ("zookeeper://alice:p4ss#w0rd-x@127.0.0.1:2181/accord/tpc", ["p4ss", "w0rd-x"]),
        ("zookeeper://alice:p4ss?w0rd-x@127.0.0.1:2181/accord/tpc", ["p4ss", "w0rd-x"]),
    ],
    ids=["slash", "hash", "question-mark"],
)
def test_a_password_with_an_unescaped_separator_is_refused_without_showing_it(
    url: str, pieces: list[str]
) -> None:
    with pytest.raises(ConfigurationError, match="percent-encode") as info:
        ZooKeeperDecisionLog(url)
    text = str(info.value)
    assert "zookeeper://alice:***@127.0.0.1:2181/accord/tpc" in text
    for piece in pieces:
        assert piece not in text


class _Participant:
    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.connection = type("S", (), {"alias": alias, "vendor": "fake"})()
        self.rolled_back: list[str] = []

    def classify(self, exc: BaseException) -> Any:
        return None

    def begin(self, branch: Any) -> None:
        pass

    def wrote(self) -> bool:
        return True

    def prepare(self) -> None:
        pass

    def commit_one_phase(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def commit_prepared(self, branch: Any) -> bool:
        return True

    def rollback_prepared(self, branch: Any) -> bool:
        self.rolled_back.append(branch.gid)
        return True


class _Refused(Exception):
    sqlstate = "25006"  # read_only_sql_transaction: the store answered


class _PluginLog:
    """A plugin's store that raises its driver's error unwrapped, with a password in its url."""

    url = f"store://alice:{SECRET}@db/x"

    def identity(self) -> str:
        return "0123456789abcdef"

    def shares_transaction_with(self, connection: Any) -> bool:
        return False

    def log_commit(self, xid: Xid, participants: Sequence[str], within: Any) -> None:
        raise _Refused("read-only")


def test_a_plugin_logs_refusal_is_decision_log_error_naming_the_url_redacted() -> None:
    parts = [_Participant("a"), _Participant("b")]
    gt = GlobalTransaction(parts, _PluginLog(), "node")  # type: ignore[arg-type]
    gt.begin()
    with pytest.raises(DecisionLogError) as info:
        gt.commit()
    assert isinstance(info.value.__cause__, _Refused)
    assert info.value.refused is True
    assert "store://alice:***@db/x" in str(info.value)
    assert SECRET not in str(info.value)
    assert all(p.rolled_back for p in parts)


def test_an_unreachable_zookeeper_log_fails_without_its_password_in_error_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("kazoo")
    # Nothing listens on port 1 of loopback: kazoo's own retries and time-out, for real.
    log = ZooKeeperDecisionLog(f"zookeeper://alice:{SECRET}@127.0.0.1:1/accord/tpc", timeout=0.5)
    with caplog.at_level(logging.DEBUG), pytest.raises(DecisionLogError) as info:
        log.identity()
    assert info.value.__cause__ is not None  # kazoo's time-out, chained
    assert "zookeeper://alice:***@127.0.0.1:1/accord/tpc" in str(info.value)
    assert SECRET not in str(info.value) + repr(info.value.__cause__) + caplog.text


def test_the_zookeeper_logs_former_target_attribute_still_works_and_warns() -> None:
    log = ZooKeeperDecisionLog(f"zookeeper://alice:{SECRET}@127.0.0.1:2181/accord/tpc")
    with pytest.warns(DeprecationWarning, match="use .url"):
        target = log.target
    assert (target.hosts, target.user) == ("127.0.0.1:2181", "alice")
    assert SECRET not in repr(target)
