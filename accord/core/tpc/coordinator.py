"""The coordinator: drives participants through two-phase commit, presumed abort.

Failure behaviour first:

* before the decision, any failure rolls back every participant and
  re-raises the original exception (a participant refusing to prepare, a
  session gone, a bug in the block);
* recovery having recorded abort first raises
  :class:`~accord.core.errors.TransactionFenced`, after rolling back;
* a failure while the decision itself is being made durable, when it cannot
  be told whether it was (the session was lost; an error the server
  answered with means it was not), raises :class:`~accord.core.errors.OutcomeUnknown`
  with the xid; prepared branches are left for recovery, which follows the log;
* after the decision, phase two only moves forward: a branch that cannot be
  committed now is left prepared for recovery and named in
  :attr:`Result.pending`; no exception (the transaction *is* committed).

Nothing is committed anywhere before the commit decision is durable. With a
decision log that can share a participant's transaction (the "logging last
resource"), that participant is not prepared: the decision row is inserted in
its own transaction, whose local commit is the commit point. Participants
that wrote nothing are not prepared (they are rolled back at the end), and
when only one participant wrote it commits in one phase with no log record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from accord.core.errors import OutcomeUnknown, TransactionFenced
from accord.core.plugins import notify
from accord.core.tpc.contract import DecisionLog, Participant, error_code
from accord.core.tpc.xid import BranchXid, Xid, make_xid

__all__ = [
    "STEPS",
    "GlobalTransaction",
    "Result",
    "add_step_listener",
    "remove_step_listener",
]

logger = logging.getLogger("accord.tpc")

#: The coordinator's steps, as passed to step listeners ("{n}" is 1-based).
STEPS = (
    "before-prepare",
    "after-prepare-{n}",
    "after-decision",
    "after-commit-{n}",
    "before-forget",
)
StepListener = Callable[[str, Xid], None]
_step_listeners: list[StepListener] = []


def add_step_listener(listener: StepListener) -> None:
    """Call *listener(step, xid)* at every step of :data:`STEPS` (fault-injection tests)."""
    _step_listeners.append(listener)


def remove_step_listener(listener: StepListener) -> None:
    """Stop calling *listener*; raises ``ValueError`` if it was not added."""
    _step_listeners.remove(listener)


#: Error codes meaning the session was lost: a commit may have happened or not.
_CONNECTION_LOST = {2006, 2013, 2055, "57P01", "57P02", "57P03"}


def _server_refused(exc: BaseException) -> bool:
    """True when the server answered with an error, so the commit did not happen."""
    code = error_code(exc)
    if code is None or code in _CONNECTION_LOST:
        return False
    return not (isinstance(code, str) and code.startswith("08"))  # class 08: connection


def _step(name: str, xid: Xid) -> None:
    for listener in list(_step_listeners):
        listener(name, xid)


@dataclass
class Result:
    """How a global transaction ended.

    ``outcome`` is ``"committed"``, ``"one-phase"`` (at most one participant
    wrote; no prepare, no log) or ``"rolled back"``. ``pending`` names the
    aliases whose prepared branch could not be committed yet: recovery will.
    """

    xid: Xid
    outcome: str
    pending: list[str] = field(default_factory=list)


class GlobalTransaction:
    """One global transaction over *participants*, deciding through *log*.

    Call :meth:`begin`, let the application work on the participants'
    sessions, then :meth:`commit` or :meth:`rollback` exactly once.
    """

    def __init__(self, participants: Sequence[Participant], log: DecisionLog, node: str) -> None:
        self.participants = list(participants)
        self.log = log
        self.xid = make_xid(node)
        self.branches: dict[int, BranchXid] = {
            id(p): self.xid.branch(n) for n, p in enumerate(self.participants, 1)
        }
        self.aliases = [p.alias for p in self.participants]
        self._started = time.monotonic()

    def begin(self) -> None:
        """Start every branch; on failure roll back those started and re-raise."""
        started: list[Participant] = []
        try:
            for participant in self.participants:
                participant.begin(self.branches[id(participant)])
                started.append(participant)
        except BaseException:
            for participant in started:
                participant.rollback()
            raise

    def rollback(self) -> Result:
        """Roll back every (unprepared) branch; never raises for a dead session."""
        for participant in self.participants:
            participant.rollback()
        return self._finish("rolled back")

    def commit(self) -> Result:
        """Commit everywhere or nowhere; see the module docstring for failures."""
        try:
            writers = [p for p in self.participants if p.wrote()]
        except BaseException:
            self.rollback()
            raise
        readers = [p for p in self.participants if p not in writers]
        if len(writers) <= 1:
            return self._commit_one_phase(writers, readers)
        last = self._last_resource(writers, readers)
        if last is not None and last in readers:
            readers.remove(last)
        prepared = self._prepare([p for p in writers if p is not last], last, readers)
        self._decide(prepared, last, readers)
        _step("after-decision", self.xid)
        for participant in readers:
            participant.rollback()
        pending = self._phase_two(prepared)
        _step("before-forget", self.xid)
        return self._finish("committed", pending)

    def _commit_one_phase(self, writers: list[Participant], readers: list[Participant]) -> Result:
        try:
            for participant in writers:
                participant.commit_one_phase()
        except BaseException:
            for participant in readers:
                participant.rollback()
            raise
        for participant in readers:
            participant.rollback()  # read-only: as good as a commit, and cannot fail usefully
        return self._finish("one-phase")

    def _last_resource(
        self, writers: list[Participant], readers: list[Participant]
    ) -> Participant | None:
        for participant in writers + readers:
            if self.log.shares_transaction_with(participant.connection):
                return participant
        return None

    def _prepare(
        self, to_prepare: list[Participant], last: Participant | None, readers: list[Participant]
    ) -> list[Participant]:
        _step("before-prepare", self.xid)
        prepared: list[Participant] = []
        for n, participant in enumerate(to_prepare, 1):
            try:
                participant.prepare()
            except BaseException:
                others = [p for p in to_prepare if p not in prepared] + readers
                self._abort(prepared, [*others, last] if last else others)
                raise
            prepared.append(participant)
            _step(f"after-prepare-{n}", self.xid)
        return prepared

    def _decide(
        self, prepared: list[Participant], last: Participant | None, readers: list[Participant]
    ) -> None:
        within = last.connection if last is not None else None
        try:
            self.log.log_commit(self.xid, self.aliases, within)
        except TransactionFenced:
            self._abort(prepared, [last, *readers] if last else readers)
            raise
        except BaseException as exc:
            if last is None and not _server_refused(exc):
                # A separate log may have stored the row before the session failed.
                raise self._unknown(readers, exc) from exc
            # Refused by the server, or inside the last resource's transaction:
            # the row is not there, so presumed abort holds.
            self._abort(prepared, [last, *readers] if last else readers)
            raise
        if last is not None:
            try:
                last.commit_one_phase()
            except BaseException as exc:
                if not _server_refused(exc):
                    raise self._unknown(readers, exc) from exc
                # The server answered with an error (e.g. a deferred constraint):
                # the local transaction, and the decision row in it, rolled back.
                self._abort(prepared, readers)
                raise

    def _unknown(self, readers: list[Participant], exc: BaseException) -> OutcomeUnknown:
        for participant in readers:
            participant.rollback()
        self._finish("in doubt")
        return OutcomeUnknown(
            f"the commit decision for {self.xid} may or may not be durable ({exc!r}); "
            f"recovery will finish it: ask tpc.outcome({str(self.xid)!r}) later",
            xid=str(self.xid),
        )

    def _abort(self, prepared: list[Participant], active: list[Participant]) -> None:
        for participant in active:
            participant.rollback()
        for participant in prepared:
            try:
                participant.rollback_prepared(self.branches[id(participant)])
            except Exception:  # presumed abort: recovery rolls it back without a record
                logger.warning(
                    "could not roll back prepared branch of %s on %r; recovery will",
                    self.xid,
                    participant.alias,
                    exc_info=True,
                )

    def _phase_two(self, prepared: list[Participant]) -> list[str]:
        pending = []
        for n, participant in enumerate(prepared, 1):
            try:
                participant.commit_prepared(self.branches[id(participant)])
            except Exception:  # the decision is durable: only recovery may finish it now
                logger.warning(
                    "commit of prepared branch of %s on %r failed; recovery will commit it",
                    self.xid,
                    participant.alias,
                    exc_info=True,
                )
                pending.append(participant.alias)
            _step(f"after-commit-{n}", self.xid)
        return pending

    def _finish(self, outcome: str, pending: Sequence[str] = ()) -> Result:
        notify(
            "accord_tpc_outcome",
            xid=str(self.xid),
            outcome=outcome,
            participants=list(self.aliases),
            duration=time.monotonic() - self._started,
        )
        return Result(self.xid, outcome, list(pending))
