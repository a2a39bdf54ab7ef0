"""The coordinator's protocol, against in-memory participants and log (pure logic)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from accord.core.errors import OutcomeUnknown, TransactionFenced
from accord.core.tpc.contract import Decision, InDoubt
from accord.core.tpc.coordinator import GlobalTransaction, add_step_listener, remove_step_listener
from accord.core.tpc.recovery import recover
from accord.core.tpc.xid import BranchXid, Xid


class FakeSession:
    vendor = "fake"

    def __init__(self, alias: str) -> None:
        self.alias = alias


class FakeParticipant:
    def __init__(self, alias: str, journal: list[str], *, writes: bool = True) -> None:
        self.alias = alias
        self.connection = FakeSession(alias)
        self.journal = journal
        self.writes = writes
        self.fail: set[str] = set()
        self.prepared: dict[BranchXid, float] = {}

    def _do(self, what: str) -> None:
        self.journal.append(f"{what} {self.alias}")
        if what in self.fail:
            raise RuntimeError(f"{what} failed on {self.alias}")

    def begin(self, branch: BranchXid) -> None:
        self.branch = branch

    def wrote(self) -> bool:
        return self.writes

    def prepare(self) -> None:
        self._do("prepare")
        self.prepared[self.branch] = 0.0

    def commit_one_phase(self) -> None:
        self._do("commit")

    def rollback(self) -> None:
        self.journal.append(f"rollback {self.alias}")

    def commit_prepared(self, branch: BranchXid) -> bool:
        self._do("commit-prepared")
        return self.prepared.pop(branch, None) is not None

    def rollback_prepared(self, branch: BranchXid) -> bool:
        self._do("rollback-prepared")
        return self.prepared.pop(branch, None) is not None

    def in_doubt(self) -> list[InDoubt]:
        return [InDoubt(b, at) for b, at in self.prepared.items()]


class FakeLog:
    url = "memory://"

    def __init__(self, journal: list[str], shared: str | None = "a") -> None:
        self.journal = journal
        self.shared = shared
        self.records: dict[Xid, Decision] = {}

    def shares_transaction_with(self, connection: Any) -> bool:
        return bool(connection.alias == self.shared)

    def log_commit(self, xid: Xid, participants: Sequence[str], within: Any) -> None:
        self.journal.append(f"log commit in {within.alias if within else 'log'}")
        if xid in self.records:
            raise TransactionFenced("fenced", xid=str(xid))
        self.records[xid] = "commit"

    def log_abort(self, xid: Xid, wait: float) -> Decision | None:
        return self.records.setdefault(xid, "abort")

    def lookup(self, xid: Xid) -> Decision | None:
        return self.records.get(xid)

    def purge(self, older_than: float, keep: Sequence[Xid]) -> int:
        return 0

    @contextmanager
    def recovery_lock(self) -> Iterator[bool]:
        yield True


@pytest.fixture
def journal() -> list[str]:
    return []


def _transaction(journal: list[str], *writes: bool, shared: str | None = "a") -> GlobalTransaction:
    names = "abc"
    parts = [FakeParticipant(names[n], journal, writes=w) for n, w in enumerate(writes)]
    gt = GlobalTransaction(parts, FakeLog(journal, shared), "node")
    gt.begin()
    return gt


def test_last_resource_is_not_prepared_and_commits_after_the_log_row(journal: list[str]) -> None:
    _transaction(journal, True, True).commit()
    assert journal == ["prepare b", "log commit in a", "commit a", "commit-prepared b"]


def test_with_a_separate_log_every_writer_is_prepared_first(journal: list[str]) -> None:
    _transaction(journal, True, True, shared=None).commit()
    assert journal == [
        "prepare a",
        "prepare b",
        "log commit in log",
        "commit-prepared a",
        "commit-prepared b",
    ]


def test_one_writer_commits_in_one_phase_without_log(journal: list[str]) -> None:
    result = _transaction(journal, False, True, False).commit()
    assert result.outcome == "one-phase"
    assert journal == ["commit b", "rollback a", "rollback c"]


def test_readers_are_not_prepared(journal: list[str]) -> None:
    _transaction(journal, True, True, False).commit()
    assert "prepare c" not in journal
    assert "rollback c" in journal


def test_prepare_failure_rolls_back_all_and_reraises_the_original(journal: list[str]) -> None:
    gt = _transaction(journal, True, True, True, shared=None)
    gt.participants[1].fail.add("prepare")  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="prepare failed on b"):
        gt.commit()
    assert "rollback-prepared a" in journal
    assert "rollback c" in journal
    assert not any(line.startswith("log") for line in journal)


def test_fenced_transaction_rolls_back_and_raises(journal: list[str]) -> None:
    gt = _transaction(journal, True, True)
    gt.log.records[gt.xid] = "abort"  # type: ignore[attr-defined]
    with pytest.raises(TransactionFenced):
        gt.commit()
    assert journal[-2:] == ["rollback a", "rollback-prepared b"]


def test_lost_commit_of_the_last_resource_is_an_unknown_outcome(journal: list[str]) -> None:
    gt = _transaction(journal, True, True)
    gt.participants[0].fail.add("commit")  # type: ignore[attr-defined]
    with pytest.raises(OutcomeUnknown) as info:
        gt.commit()
    assert info.value.xid == str(gt.xid)
    assert "rollback-prepared b" not in journal  # left for recovery, which follows the log


def test_phase_two_failure_leaves_the_branch_pending_and_does_not_raise(journal: list[str]) -> None:
    gt = _transaction(journal, True, True)
    gt.participants[1].fail.add("commit-prepared")  # type: ignore[attr-defined]
    result = gt.commit()
    assert (result.outcome, result.pending) == ("committed", ["b"])


def test_steps_are_reported_in_order(journal: list[str]) -> None:
    steps: list[str] = []

    def listener(step: str, xid: Xid) -> None:
        steps.append(step)

    add_step_listener(listener)
    try:
        _transaction(journal, True, True, True).commit()
    finally:
        remove_step_listener(listener)
    assert steps == [
        "before-prepare",
        "after-prepare-1",
        "after-prepare-2",
        "after-decision",
        "after-commit-1",
        "after-commit-2",
        "before-forget",
    ]


def test_recovery_commits_what_the_log_says_and_fences_the_rest(journal: list[str]) -> None:
    decided = _transaction(journal, True, True, shared=None)
    undecided = _transaction(journal, True, True, shared=None)
    participants = decided.participants
    for gt, decision in ((decided, "commit"), (undecided, None)):
        for p in gt.participants:
            p.prepare()
        if decision:
            gt.log.records[gt.xid] = decision  # type: ignore[attr-defined]
    log = decided.log
    log.records.update(undecided.log.records)  # type: ignore[attr-defined]
    every = participants + undecided.participants
    report = recover(every, log, nodes=["node"], delay=0, retention=60)
    actions = {(r.xid, r.action) for r in report.resolutions}
    assert actions == {(str(decided.xid), "committed"), (str(undecided.xid), "rolled back")}
    assert log.lookup(undecided.xid) == "abort"
