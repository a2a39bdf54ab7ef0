"""The coordinator's protocol, against in-memory participants and log (pure logic)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from accord.core.errors import (
    DecisionLogError,
    OutcomeUnknown,
    PrepareFailed,
    TransactionFenced,
    TransactionTimeout,
)
from accord.core.tpc.contract import Decision, ErrorKind, InDoubt, Record
from accord.core.tpc.coordinator import GlobalTransaction, add_step_listener, remove_step_listener
from accord.core.tpc.recovery import recover
from accord.core.tpc.xid import BranchXid, Xid

LOG = "0123456789abcdef"


class FakeSession:
    vendor = "fake"

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def close(self) -> None:
        pass


class Refused(RuntimeError):
    """What a fake server answers with: the statement took no effect."""


class FakeParticipant:
    def __init__(self, alias: str, journal: list[str], *, writes: bool = True) -> None:
        self.alias = alias
        self.connection = FakeSession(alias)
        self.journal = journal
        self.writes = writes
        self.fail: set[str] = set()  # steps that fail with the session lost
        self.refuse: set[str] = set()  # steps the server refuses
        self.prepared: dict[BranchXid, float] = {}

    def _do(self, what: str) -> None:
        self.journal.append(f"{what} {self.alias}")
        if what in self.fail:
            raise RuntimeError(f"{what} failed on {self.alias}")
        if what in self.refuse:
            raise Refused(f"{what} refused on {self.alias}")

    def classify(self, exc: BaseException) -> ErrorKind | None:
        return "refused" if isinstance(exc, Refused) else "lost"

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
        self.records: dict[Xid, Record] = {}

    def identity(self) -> str:
        return LOG

    def shares_transaction_with(self, connection: Any) -> bool:
        return bool(connection.alias == self.shared)

    def log_commit(self, xid: Xid, participants: Sequence[str], within: Any) -> None:
        self.journal.append(f"log commit in {within.alias if within else 'log'}")
        standing = self.records.setdefault(xid, Record("commit"))
        if standing.decision != "commit":
            raise TransactionFenced("fenced", xid=str(xid))

    def decide(
        self, xid: Xid, decision: Decision, *, source: Any, participants: Any, wait: float
    ) -> Record | None:
        return self.records.setdefault(xid, Record(decision, source))

    def lookup(self, xid: Xid) -> Record | None:
        return self.records.get(xid)

    def sightings(self, xids: Sequence[Xid]) -> dict[Xid, float]:
        return dict.fromkeys(xids, 0.0)

    def purge(self, older_than: float, horizon: float, keep: Any, scanned: Any) -> int:
        return 0

    @contextmanager
    def recovery_lock(self) -> Iterator[bool]:
        yield True


@pytest.fixture
def journal() -> list[str]:
    return []


def _transaction(
    journal: list[str], *writes: bool, shared: str | None = "a", **options: Any
) -> GlobalTransaction:
    names = "abc"
    parts = [FakeParticipant(names[n], journal, writes=w) for n, w in enumerate(writes)]
    gt = GlobalTransaction(parts, FakeLog(journal, shared), "node", **options)
    gt.begin()
    return gt


def test_last_resource_is_not_prepared_and_commits_after_the_log_row(journal: list[str]) -> None:
    _transaction(journal, True, True).commit()
    # b is prepared first; then the row goes into a's transaction, which commits.
    assert journal == ["prepare b", "log commit in a", "commit a", "commit-prepared b"]


def test_with_a_separate_log_every_writer_is_prepared_first(journal: list[str]) -> None:
    _transaction(journal, True, True, shared=None).commit()
    # Prepares run in parallel, and so do the commits: only the phases are ordered.
    assert sorted(journal[:2]) == ["prepare a", "prepare b"]
    assert journal[2] == "log commit in log"
    assert sorted(journal[3:]) == ["commit-prepared a", "commit-prepared b"]


def test_one_writer_commits_in_one_phase_without_log_then_the_readers(
    journal: list[str],
) -> None:
    result = _transaction(journal, False, True, False).commit()
    assert result.outcome == "one-phase"
    assert journal == ["commit b", "commit a", "commit c"]


def test_readers_are_not_prepared_and_commit_after_the_writers(journal: list[str]) -> None:
    _transaction(journal, True, True, False).commit()
    assert "prepare c" not in journal
    assert journal[-1] == "commit c"


def test_prepare_failure_rolls_back_all_and_raises_prepare_failed(journal: list[str]) -> None:
    gt = _transaction(journal, True, True, True, shared=None)
    gt.participants[1].fail.add("prepare")  # type: ignore[attr-defined]
    with pytest.raises(PrepareFailed, match="database 'b' failed to prepare") as info:
        gt.commit()
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "prepare failed on b" in str(info.value)
    assert "rollback-prepared a" in journal
    assert "rollback b" in journal
    # c was prepared at the same time as b (in parallel): rolled back either way.
    assert {"rollback c", "rollback-prepared c"} & set(journal)
    assert not any(line.startswith("log") for line in journal)


def test_fenced_transaction_rolls_back_and_raises(journal: list[str]) -> None:
    gt = _transaction(journal, True, True)
    gt.log.records[gt.xid] = Record("abort", "recovery")  # type: ignore[attr-defined]
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


def test_steps_are_reported_in_order_of_the_phases(journal: list[str]) -> None:
    steps: list[str] = []

    def listener(step: str, xid: Xid) -> None:
        steps.append(step)

    add_step_listener(listener)
    try:
        _transaction(journal, True, True, True).commit()
    finally:
        remove_step_listener(listener)
    assert steps[0] == "before-prepare"
    assert sorted(steps[1:3]) == ["after-prepare-1", "after-prepare-2"]
    assert steps[3] == "after-decision"
    assert sorted(steps[4:6]) == ["after-commit-1", "after-commit-2"]
    assert steps[6] == "before-forget"


def test_a_failed_phase_two_commit_is_retried_on_a_new_session(journal: list[str]) -> None:
    def reopen(participant: Any) -> Any:
        journal.append(f"reopen {participant.alias}")
        participant.fail.discard("commit-prepared")
        return participant

    gt = _transaction(journal, True, True, reopen=reopen)
    gt.participants[1].fail.add("commit-prepared")  # type: ignore[attr-defined]
    result = gt.commit()
    assert (result.pending, result.unconfirmed) == ([], [])
    assert journal[-2:] == ["reopen b", "commit-prepared b"]


def test_a_branch_gone_before_phase_two_is_unconfirmed_not_committed(journal: list[str]) -> None:
    gt = _transaction(journal, True, True)
    original = gt.participants[1].commit_prepared

    def vanished(branch: BranchXid) -> bool:
        gt.participants[1].prepared.clear()  # type: ignore[attr-defined]
        return original(branch)

    gt.participants[1].commit_prepared = vanished  # type: ignore[method-assign]
    result = gt.commit()
    assert (result.outcome, result.pending, result.unconfirmed) == ("committed", [], ["b"])


def test_a_block_past_its_prepare_timeout_rolls_back_before_preparing(journal: list[str]) -> None:
    gt = _transaction(journal, True, True, prepare_timeout=0.01)
    time.sleep(0.02)
    with pytest.raises(TransactionTimeout, match="prepare timeout"):
        gt.commit()
    assert not any(line.startswith("prepare") for line in journal)
    assert sorted(journal) == ["rollback a", "rollback b"]


def test_recovery_commits_what_the_log_says_and_fences_the_rest(journal: list[str]) -> None:
    decided = _transaction(journal, True, True, shared=None)
    undecided = _transaction(journal, True, True, shared=None)
    participants = decided.participants
    for gt, decision in ((decided, "commit"), (undecided, None)):
        for p in gt.participants:
            p.prepare()
        if decision:
            gt.log.records[gt.xid] = Record(decision)  # type: ignore[attr-defined]
    log = decided.log
    log.records.update(undecided.log.records)  # type: ignore[attr-defined]
    every = participants + undecided.participants
    report = recover(every, log, nodes=["node"], delay=0, retention=60)
    actions = {(r.xid, r.action) for r in report.resolutions}
    assert actions == {(str(decided.xid), "committed"), (str(undecided.xid), "rolled back")}
    assert log.lookup(undecided.xid).decision == "abort"  # type: ignore[union-attr]


def test_recovery_leaves_branches_of_another_log_alone(journal: list[str]) -> None:
    gt = _transaction(journal, True, True, shared=None)
    theirs = gt.xid.branch(1, "f" * 16)
    gt.participants[0].prepared[theirs] = 0.0  # type: ignore[attr-defined]
    report = recover(gt.participants, gt.log, nodes=["node"], delay=0, retention=60)
    assert report.resolutions == []
    assert report.foreign == 1
    assert theirs in gt.participants[0].prepared  # type: ignore[attr-defined]


def test_a_refused_prepare_is_prepare_failed_naming_the_database_and_what_it_said(
    journal: list[str],
) -> None:
    gt = _transaction(journal, True, True, shared=None)
    gt.participants[1].refuse.add("prepare")  # type: ignore[attr-defined]
    with pytest.raises(PrepareFailed) as info:
        gt.commit()
    assert "database 'b' refused to prepare" in str(info.value)
    assert "Refused: prepare refused on b" in str(info.value)
    assert isinstance(info.value.__cause__, Refused)
    assert "rollback-prepared a" in journal
    assert "rollback b" in journal


def test_a_refused_commit_of_the_last_resource_is_prepare_failed_and_rolls_back_all(
    journal: list[str],
) -> None:
    gt = _transaction(journal, True, True)
    gt.participants[0].refuse.add("commit")  # type: ignore[attr-defined]
    with pytest.raises(PrepareFailed, match="database 'a' refused to commit") as info:
        gt.commit()
    assert isinstance(info.value.__cause__, Refused)
    assert "rollback-prepared b" in journal
    assert not any(line.startswith("commit-prepared") for line in journal)


def test_a_refused_one_phase_commit_is_prepare_failed(journal: list[str]) -> None:
    gt = _transaction(journal, False, True)
    gt.participants[1].refuse.add("commit")  # type: ignore[attr-defined]
    with pytest.raises(PrepareFailed, match="database 'b' refused to commit"):
        gt.commit()
    assert "rollback a" in journal


class FailingLog(FakeLog):
    def __init__(self, journal: list[str], error: BaseException) -> None:
        super().__init__(journal, shared=None)
        self.error = error

    def log_commit(self, xid: Xid, participants: Sequence[str], within: Any) -> None:
        self.journal.append("log commit")
        raise self.error


def _with_log(journal: list[str], log: FakeLog) -> GlobalTransaction:
    parts = [FakeParticipant(n, journal) for n in "ab"]
    gt = GlobalTransaction(parts, log, "node")
    gt.begin()
    return gt


def test_a_decision_log_that_refused_the_write_raises_decision_log_error_after_rolling_back(
    journal: list[str],
) -> None:
    error = DecisionLogError("the decision log failed", refused=True)
    gt = _with_log(journal, FailingLog(journal, error))
    with pytest.raises(DecisionLogError) as info:
        gt.commit()
    assert info.value is error
    assert {"rollback-prepared a", "rollback-prepared b"} <= set(journal)


def test_a_decision_log_write_that_may_have_happened_is_an_unknown_outcome(
    journal: list[str],
) -> None:
    error = DecisionLogError("the decision log lost its session", refused=False)
    gt = _with_log(journal, FailingLog(journal, error))
    with pytest.raises(OutcomeUnknown) as info:
        gt.commit()
    assert info.value.__cause__ is error
    assert not any(line.startswith("rollback-prepared") for line in journal)  # recovery's


def test_a_plugin_log_raising_an_error_of_its_own_is_an_unknown_outcome_as_before(
    journal: list[str],
) -> None:
    gt = _with_log(journal, FailingLog(journal, ConnectionError("store gone")))
    with pytest.raises(OutcomeUnknown) as info:
        gt.commit()
    assert isinstance(info.value.__cause__, ConnectionError)


class Coded(Exception):
    """A driver error with a SQLSTATE, as psycopg raises them."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server said {sqlstate}")
        self.sqlstate = sqlstate


class OldParticipant(FakeParticipant):
    """A participant written against the contract before classify() existed."""

    classify = None  # type: ignore[assignment]

    def __getattribute__(self, name: str) -> Any:
        if name == "classify":
            raise AttributeError(name)
        return super().__getattribute__(name)


def _old(journal: list[str], error: BaseException) -> GlobalTransaction:
    parts = [OldParticipant(n, journal) for n in "ab"]
    with pytest.warns(DeprecationWarning, match="has no classify"):
        gt = GlobalTransaction(parts, FakeLog(journal), "node")
    gt.begin()
    parts[0].commit_one_phase = lambda: (_ for _ in ()).throw(error)  # type: ignore[method-assign]
    return gt


def test_a_participant_without_classify_warns_and_a_refusal_code_still_means_refused(
    journal: list[str],
) -> None:
    from accord.core.tpc import coordinator

    coordinator._unclassified.discard(OldParticipant)
    with pytest.raises(PrepareFailed) as info:
        _old(journal, Coded("23503")).commit()  # foreign_key_violation at COMMIT
    assert isinstance(info.value.__cause__, Coded)


def test_a_participant_without_classify_and_a_connection_code_is_an_unknown_outcome(
    journal: list[str],
) -> None:
    from accord.core.tpc import coordinator

    coordinator._unclassified.discard(OldParticipant)
    with pytest.raises(OutcomeUnknown):
        _old(journal, Coded("08006")).commit()  # connection_failure


def test_the_participant_is_asked_what_its_error_means(journal: list[str]) -> None:
    gt = _transaction(journal, True, True)
    gt.participants[0].fail.add("commit")  # type: ignore[attr-defined]
    gt.participants[0].classify = lambda exc: "refused"  # type: ignore[attr-defined]
    with pytest.raises(PrepareFailed):
        gt.commit()


def test_error_code_still_reads_codes_and_warns_naming_classify() -> None:
    from accord.core.tpc import contract

    with pytest.warns(DeprecationWarning, match=r"Participant\.classify"):
        error_code = contract.error_code  # type: ignore[attr-defined]
    assert error_code(Coded("40001")) == "40001"
    assert error_code(RuntimeError("no code")) is None
