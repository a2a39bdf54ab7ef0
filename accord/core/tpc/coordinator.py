"""The coordinator: drives participants through two-phase commit, presumed abort.

Failure behaviour first:

* before the decision, any failure rolls back every participant first. A
  participant failing to prepare (refused, or its session lost) raises
  :class:`~accord.core.errors.PrepareFailed`, and so does the one participant
  committed without preparing (the logging last resource, or the only writer)
  when its server refuses the ``COMMIT``; the driver's error is the
  ``__cause__``. A decision log that fails where nothing can have been
  recorded raises :class:`~accord.core.errors.DecisionLogError`. Other
  exceptions (a bug in the block, a session gone before prepare) propagate
  unchanged;
* a block that ran longer than its ``prepare_timeout`` is rolled back before
  anything is prepared: :class:`~accord.core.errors.TransactionTimeout`;
* recovery having recorded abort first raises
  :class:`~accord.core.errors.TransactionFenced`, after rolling back;
* a failure while the decision itself is being made durable, when it cannot
  be told whether it was (the session was lost; an error the server
  answered with means it was not), raises :class:`~accord.core.errors.OutcomeUnknown`
  with the xid (the log's or driver's error as ``__cause__``); prepared branches
  are left for recovery, which follows the log. Whether the server answered
  is the participant's to say (:meth:`~accord.core.tpc.contract.Participant.classify`),
  or the log's (:attr:`~accord.core.errors.DecisionLogError.refused`);
* after the decision, phase two only moves forward: a branch whose commit
  fails is retried on a new session (``reopen``) for up to
  ``phase_two_timeout`` seconds; one still not committed is left prepared for
  recovery and named in :attr:`Result.pending`, logged and told to observers;
  no exception (the transaction *is* committed). A branch found gone before
  it could be committed is named in :attr:`Result.unconfirmed` (a hazard if
  someone rolled it back by hand).

Nothing is committed anywhere before the commit decision is durable. With a
decision log that can share a participant's transaction (the "logging last
resource"), that participant is not prepared: the decision row is inserted in
its own transaction, whose local commit is the commit point. The others are
prepared in parallel, and committed in parallel. Participants that wrote
nothing are not prepared (they commit after the others: a PostgreSQL
``NOTIFY`` of theirs is sent then), and when only one participant wrote it
commits in one phase with no log record. Every end, of every kind, is told to
the ``accord_tpc_outcome`` observers.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from accord.core.errors import (
    AccordError,
    DecisionConflict,
    DecisionLogError,
    OutcomeUnknown,
    PrepareFailed,
    TransactionFenced,
    TransactionTimeout,
)
from accord.core.plugins import notify
from accord.core.tpc.contract import DecisionLog, ErrorKind, Participant, legacy_classify
from accord.core.tpc.parallel import overlapped
from accord.core.tpc.phase_two import Reopen, commit_prepared
from accord.core.tpc.steps import STEPS, add_step_listener, remove_step_listener, step
from accord.core.tpc.xid import BranchXid, Xid, make_xid
from accord.core.urls import redact

__all__ = [
    "STEPS",
    "GlobalTransaction",
    "Result",
    "add_step_listener",
    "remove_step_listener",
]

logger = logging.getLogger("accord.tpc")

#: Participant classes warned about for lacking ``classify`` (once each).
_unclassified: set[type] = set()


def _warn_unclassified(participant: Participant) -> None:
    kind = type(participant)
    if hasattr(participant, "classify") or kind in _unclassified:
        return
    _unclassified.add(kind)
    warnings.warn(
        f"the two-phase-commit participant {kind.__module__}.{kind.__qualname__} has no "
        "classify(exc) method; accord reads PostgreSQL and MySQL error codes for it instead. "
        "Add classify() (see accord.core.tpc.contract.Participant.classify)",
        DeprecationWarning,
        stacklevel=3,
    )


def _classify(participant: Participant | None, exc: BaseException) -> ErrorKind | None:
    """What *exc* means, as the participant (or the decision log's error) says; None: unknown."""
    if isinstance(exc, DecisionLogError):
        return "refused" if exc.refused else "lost"
    classify = getattr(participant, "classify", None)
    if classify is None:
        return legacy_classify(exc)  # a participant written before classify(), or a plugin log
    try:
        return classify(exc)  # type: ignore[no-any-return]
    except Exception:  # a broken classify must not hide the failure it was asked about
        logger.warning("%r.classify() raised", participant, exc_info=True)
        return None


def _refused(participant: Participant | None, exc: BaseException) -> bool:
    """True when the server answered with an error, so the statement took no effect."""
    return _classify(participant, exc) == "refused"


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


@dataclass(frozen=True)
class _Prepared:
    participant: Participant


class _PhaseTimer:
    """``with``: the seconds the block took, stored in *phases* under *name* (even if it raised)."""

    __slots__ = ("name", "phases", "start")

    def __init__(self, phases: dict[str, float], name: str) -> None:
        self.phases = phases
        self.name = name

    def __enter__(self) -> None:
        self.start = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.phases[self.name] = time.monotonic() - self.start


@dataclass
class Result:
    """How a global transaction ended.

    ``outcome`` is ``"committed"``, ``"one-phase"`` (at most one participant
    wrote; no prepare, no log) or ``"rolled back"``. ``pending`` names the
    aliases whose prepared branch could not be committed yet: recovery will.
    ``unconfirmed`` names those whose branch was already gone when phase two
    came to commit it: committed by recovery or by an attempt whose reply was
    lost, or resolved by hand (accord cannot tell which).
    """

    xid: Xid
    outcome: str
    pending: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)


class GlobalTransaction:
    """One global transaction over *participants*, deciding through *log*.

    Call :meth:`begin`, let the application work on the participants'
    sessions, then :meth:`commit` or :meth:`rollback` exactly once.

    *reopen* gives a participant on a new session of the same database (the
    old one is ended): phase two retries a failed commit with it.
    *prepare_timeout* (seconds since construction) bounds how long the block
    may run before prepare.
    """

    def __init__(
        self,
        participants: Sequence[Participant],
        log: DecisionLog,
        node: str,
        *,
        reopen: Reopen | None = None,
        phase_two_timeout: float = 5.0,
        prepare_timeout: float | None = None,
    ) -> None:
        self._started = time.monotonic()
        self.participants = list(participants)
        self.log = log
        self.xid = make_xid(node)
        identity = log.identity()
        self.branches: dict[int, BranchXid] = {
            id(p): self.xid.branch(n, identity) for n, p in enumerate(self.participants, 1)
        }
        self.aliases = [p.alias for p in self.participants]
        for participant in self.participants:
            _warn_unclassified(participant)
        self.reopen = reopen
        self.phase_two_timeout = phase_two_timeout
        self.prepare_timeout = prepare_timeout
        self._told = False  # observers are told of the end once
        self._phases: dict[str, float] = {}  # seconds per commit phase, for observers

    def begin(self) -> None:
        """Start every branch; on failure roll back those started and re-raise.

        A participant that can send its first statement without waiting
        (``start_begin``) has it sent, then the others', and only then are the
        replies read: one round trip for all the databases instead of one each.
        """
        started: list[Participant] = []
        sent: list[tuple[Participant, Callable[[], None]]] = []
        failure: BaseException | None = None
        for participant in self.participants:
            branch = self.branches[id(participant)]
            try:
                start = getattr(participant, "start_begin", None)
                finish = start(branch) if start is not None else None
                if finish is None:
                    participant.begin(branch)
                    started.append(participant)
                else:
                    sent.append((participant, finish))
            except BaseException as exc:
                failure = exc
                break
        for participant, finish in sent:  # every reply is read: the sessions stay usable
            try:
                finish()
                started.append(participant)
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            for participant in started:
                participant.rollback()
            raise failure

    def rollback(self) -> Result:
        """Roll back every (unprepared) branch; never raises for a dead session."""
        for participant in self.participants:
            participant.rollback()
        return self._finish("rolled back")

    def commit(self) -> Result:
        """Commit everywhere or nowhere; see the module docstring for failures."""
        try:
            return self._commit()
        except TransactionFenced:
            self._finish("fenced")
            raise
        except BaseException:
            self._finish("rolled back")  # unless told otherwise already ("in doubt")
            raise

    def _commit(self) -> Result:
        try:
            self._check_timeout()
            writers = [p for p in self.participants if p.wrote()]
        except BaseException:
            for participant in self.participants:
                participant.rollback()
            raise
        readers = [p for p in self.participants if p not in writers]
        if len(writers) <= 1:
            return self._commit_one_phase(writers, readers)
        last = self._last_resource(writers, readers)
        if last is not None and last in readers:
            readers.remove(last)
        with self._phase("prepare"):
            prepared = self._prepare([p for p in writers if p is not last], last, readers)
        with self._phase("decide"):
            self._decide(prepared, last, readers)
        step("after-decision", self.xid)
        with self._phase("phase two"):
            pending, unconfirmed = self._phase_two(prepared)
        self._commit_readers(readers)
        step("before-forget", self.xid)
        return self._finish("committed", pending, unconfirmed)

    def _phase(self, name: str) -> _PhaseTimer:
        """Time a commit phase for ``accord_tpc_outcome`` (kept if the phase raised too)."""
        return _PhaseTimer(self._phases, name)

    def _check_timeout(self) -> None:
        elapsed = time.monotonic() - self._started
        if self.prepare_timeout is not None and elapsed > self.prepare_timeout:
            raise TransactionTimeout(
                f"{self.xid} ran {elapsed:.1f}s, longer than its prepare timeout "
                f"({self.prepare_timeout}s); rolled back on every database before preparing",
                xid=str(self.xid),
            )

    def _commit_one_phase(self, writers: list[Participant], readers: list[Participant]) -> Result:
        for writer in writers:
            try:
                writer.commit_one_phase()
            except BaseException as exc:
                for participant in readers:
                    participant.rollback()
                if not _refused(writer, exc):  # as with a plain commit: it may have happened
                    self._finish("in doubt")
                    raise
                raise self._commit_refused(writer, exc) from exc
        self._commit_readers(readers)
        return self._finish("one-phase")

    def _commit_readers(self, readers: list[Participant]) -> None:
        # A reader's commit changes no data; on PostgreSQL it sends the NOTIFYs
        # it queued, now that every write is committed.
        for participant in readers:
            try:
                participant.commit_one_phase()
            except Exception:
                participant.rollback()
                logger.info("read-only branch of %s on %r did not commit", self.xid, exc_info=True)

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
        """Prepare *to_prepare*, all at once; on any failure roll everything back and re-raise."""
        step("before-prepare", self.xid)
        outcomes = overlapped(
            list(enumerate(to_prepare, 1)), self._start_prepare, self._prepare_one
        )
        prepared = [out.participant for out in outcomes if isinstance(out, _Prepared)]
        failures = [
            (participant, out)
            for participant, out in zip(to_prepare, outcomes, strict=True)
            if not isinstance(out, _Prepared)
        ]
        if failures:
            others = [p for p in to_prepare if p not in prepared] + readers
            self._abort(prepared, [*others, last] if last else others)
            participant, exc = failures[0]
            if isinstance(exc, AccordError) or not isinstance(exc, Exception):
                raise exc  # PrepareFailed of the participant's own, or an interrupt
            raise self._prepare_failed(participant, exc) from exc
        return prepared

    def _prepare_failed(self, participant: Participant, exc: BaseException) -> PrepareFailed:
        if _classify(participant, exc) == "refused":
            how = f"database {participant.alias!r} refused to prepare {self.xid}"
            after = "every database was rolled back; nothing was committed"
        else:
            how = f"database {participant.alias!r} failed to prepare {self.xid} (session lost?)"
            after = (
                "every database was rolled back, nothing was committed (a branch it may "
                "have prepared is rolled back by recovery)"
            )
        return PrepareFailed(f"{how}: {_said(exc)}; {after}")

    def _commit_refused(self, participant: Participant, exc: BaseException) -> BaseException:
        """The error for the COMMIT of the one unprepared participant, refused by its server."""
        if isinstance(exc, AccordError) or not isinstance(exc, Exception):
            return exc
        return PrepareFailed(
            f"database {participant.alias!r} refused to commit {self.xid}: {_said(exc)}; "
            "every database was rolled back; nothing was committed"
        )

    def _log_failed(self, exc: BaseException) -> BaseException:
        """A failure of a (plugin's) decision log as DecisionLogError; accord's own raise it."""
        if isinstance(exc, AccordError) or not isinstance(exc, Exception):
            return exc
        return DecisionLogError(
            f"the decision log {redact(str(getattr(self.log, 'url', '')))} failed to record "
            f"commit for {self.xid}: {_said(exc)}; every database was rolled back",
            refused=True,
        )

    def _start_prepare(self, item: tuple[int, Participant]) -> Callable[[], _Prepared] | None:
        n, participant = item
        start = getattr(participant, "start_prepare", None)
        finish = start() if start is not None else None
        if finish is None:
            return None

        def prepared() -> _Prepared:
            finish()
            step(f"after-prepare-{n}", self.xid)
            return _Prepared(participant)

        return prepared

    def _prepare_one(self, item: tuple[int, Participant]) -> _Prepared:
        n, participant = item
        participant.prepare()
        step(f"after-prepare-{n}", self.xid)
        return _Prepared(participant)

    def _decide(
        self, prepared: list[Participant], last: Participant | None, readers: list[Participant]
    ) -> None:
        """Make the decision durable: the log row, committed on its own or with *last*."""
        if last is not None and self._commit_within(prepared, last, readers):
            return
        within = last.connection if last is not None else None
        try:
            self.log.log_commit(self.xid, self.aliases, within)
        except TransactionFenced:
            self._abort(prepared, [last, *readers] if last else readers)
            raise
        except BaseException as exc:
            if last is None and not _refused(None, exc):
                # A separate log may have stored the row before the session failed.
                raise self._unknown(readers, exc) from exc
            # Refused by the server, or inside the last resource's transaction:
            # the row is not there, so presumed abort holds.
            self._abort(prepared, [last, *readers] if last else readers)
            failure = self._log_failed(exc)
            if failure is exc:
                raise
            raise failure from exc
        if last is not None:
            # The row goes in only now, after every prepare: until this commit,
            # recovery can fence the transaction without waiting on the row's lock.
            try:
                last.commit_one_phase()
            except BaseException as exc:
                if not _refused(last, exc):
                    raise self._unknown(readers, exc) from exc
                # The server answered with an error (e.g. a deferred constraint):
                # the local transaction, and the decision row in it, rolled back.
                self._abort(prepared, readers)
                failure = self._commit_refused(last, exc)
                if failure is exc:
                    raise
                raise failure from exc

    def _commit_within(
        self, prepared: list[Participant], last: Participant, readers: list[Participant]
    ) -> bool:
        """The row and *last*'s commit in one round trip, if the log can; whether it did."""
        commit_within = getattr(self.log, "commit_within", None)
        if commit_within is None:
            return False
        try:
            return bool(commit_within(self.xid, self.aliases, last.connection))
        except TransactionFenced:
            self._abort(prepared, [last, *readers])
            raise
        except DecisionConflict:
            for participant in (last, *readers):  # the prepared ones are recovery's: commit
                participant.rollback()
            self._finish("in doubt")
            raise
        except BaseException as exc:
            if not _refused(last, exc):
                raise self._unknown([last, *readers], exc) from exc
            # The server answered with an error (e.g. a deferred constraint at COMMIT):
            # the local transaction, and the decision row in it, rolled back.
            self._abort(prepared, [last, *readers])
            failure = self._commit_refused(last, exc)
            if failure is exc:
                raise
            raise failure from exc

    def _unknown(self, readers: list[Participant], exc: BaseException) -> OutcomeUnknown:
        for participant in readers:
            participant.rollback()
        self._finish("in doubt")
        return OutcomeUnknown(
            f"the commit decision for {self.xid} may or may not be durable ({_said(exc)}); "
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

    def _phase_two(self, prepared: list[Participant]) -> tuple[list[str], list[str]]:
        branches = [(p, self.branches[id(p)]) for p in prepared]
        return commit_prepared(self.xid, branches, self.reopen, self.phase_two_timeout)

    def _finish(
        self, outcome: str, pending: Sequence[str] = (), unconfirmed: Sequence[str] = ()
    ) -> Result:
        if self._told:
            return Result(self.xid, outcome, list(pending), list(unconfirmed))
        self._told = True
        notify(
            "accord_tpc_outcome",
            xid=str(self.xid),
            outcome=outcome,
            participants=list(self.aliases),
            duration=time.monotonic() - self._started,
            pending=list(pending),
            phases=dict(self._phases),
        )
        return Result(self.xid, outcome, list(pending), list(unconfirmed))
