"""Global transaction ids fit PostgreSQL gids and MySQL XIDs, and only accord's parse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core.errors import ConfigurationError
from accord.core.tpc.xid import FORMAT_ID, make_xid, parse_gid, parse_mysql_xid, parse_xid

nodes = st.from_regex(r"[a-z0-9_-]{1,24}", fullmatch=True)
logs = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
LOG = "0123456789abcdef"


@given(nodes, st.integers(1, 999), logs)
def test_ids_fit_mysql_and_postgresql_limits(node: str, branch: int, log: str) -> None:
    xid = make_xid(node).branch(branch, log)
    assert len(xid.gtrid) <= 64
    assert len(xid.bqual) <= 64
    assert len(xid.gid.encode()) < 200
    assert FORMAT_ID < 2**31


@given(nodes, st.integers(1, 999), logs)
def test_gid_and_mysql_xid_parse_back_to_the_same_branch(node: str, branch: int, log: str) -> None:
    xid = make_xid(node).branch(branch, log)
    assert parse_gid(xid.gid) == xid
    assert parse_mysql_xid(FORMAT_ID, xid.gtrid, xid.bqual) == xid
    assert parse_xid(str(xid.xid)) == xid.xid


def test_branches_of_one_transaction_have_distinct_gids_and_bquals() -> None:
    xid = make_xid("web-1")
    assert xid.branch(1, LOG).gid != xid.branch(2, LOG).gid
    assert xid.branch(1, LOG).bqual != xid.branch(2, LOG).bqual
    assert xid.branch(1, LOG).gtrid == xid.branch(2, LOG).gtrid


def test_the_same_xid_decided_by_two_logs_has_distinct_branches() -> None:
    xid = make_xid("default")
    mine, theirs = xid.branch(1, LOG), xid.branch(1, "f" * 16)
    assert mine.gid != theirs.gid
    assert mine.bqual != theirs.bqual
    assert parse_gid(theirs.gid) == theirs
    assert parse_gid(theirs.gid).log == "f" * 16  # type: ignore[union-attr]


def test_a_malformed_log_identity_is_refused_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="'nope'"):
        make_xid("web").branch(1, "nope")


def test_xid_carries_node_and_start_time() -> None:
    xid = make_xid("web-1", now=1_700_000_000.5)
    assert xid.node == "web-1"
    assert xid.started == pytest.approx(1_700_000_000.5)


@pytest.mark.parametrize(
    "gid",
    [
        "",
        "_pg3_abc",
        "accord:web:123:1",
        "accord:WEB:" + "0" * 32 + ":1",
        "accord:web:" + "0" * 32 + ":1",  # made before logs had an identity
        "other:x:y",
    ],
)
def test_foreign_gids_are_not_accords(gid: str) -> None:
    assert parse_gid(gid) is None


def test_mysql_xid_of_another_format_id_is_not_accords() -> None:
    xid = make_xid("web").branch(1, LOG)
    assert parse_mysql_xid(1, xid.gtrid, xid.bqual) is None
    assert parse_mysql_xid(FORMAT_ID, b"\xff\xfe", b"1") is None


@pytest.mark.parametrize("node", ["", "A", "x" * 25, "a b", "a:b", 3])
def test_bad_node_ids_are_refused_naming_the_value(node: object) -> None:
    with pytest.raises(ConfigurationError, match="1 to 24 characters") as info:
        make_xid(node)  # type: ignore[arg-type]
    assert repr(node) in str(info.value)
