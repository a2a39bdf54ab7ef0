"""``tpc.atomic(*aliases)``: one atomic block across several Django databases.

Failure behaviour first:

* bad aliases (unknown, fewer than two, repeated, an engine that cannot
  prepare) raise :class:`~accord.core.errors.ConfigurationError`, and an
  alias already inside an atomic block (``transaction.atomic``,
  ``ATOMIC_REQUESTS``, a ``TestCase``) raises
  :class:`~accord.core.errors.AtomicBlockActive`, before anything is written;
* an exception in the block rolls back every database and propagates;
* :class:`~accord.core.errors.PrepareFailed`: a database refused to prepare
  (or, for the one committed without preparing, to commit), or lost its
  session while preparing; every database was rolled back, the driver's
  error is the ``__cause__``;
* :class:`~accord.core.errors.DecisionLogError`: the decision log could not
  be read (when the block starts) or refused the decision; nothing was
  committed;
* :class:`~accord.core.errors.TransactionTimeout`: the block ran longer
  than its ``prepare_timeout`` (or ``PREPARE_TIMEOUT``); it was rolled back
  before anything was prepared;
* :class:`~accord.core.errors.TransactionFenced`: recovery aborted the
  transaction first (the block ran longer than ``RECOVERY_DELAY`` between
  prepare and commit); nothing was committed;
* :class:`~accord.core.errors.OutcomeUnknown`: the commit decision may or
  may not be durable; recovery finishes it either way; ask
  ``tpc.outcome(exc.xid)``.

Inside the block the aliases behave as in ``transaction.atomic``: nested
``transaction.atomic()`` makes savepoints, and ``transaction.on_commit()``
callbacks registered for a participating alias run once every database has
committed (after phase two), never on rollback and never when the outcome is
unknown. A database whose commit fails after the decision is committed again
on a new session, for up to ``PHASE_TWO_TIMEOUT`` seconds; if it still cannot
be, the block ends without an exception (the transaction is committed:
recovery commits that database later), ``result.pending`` names it, a warning
is logged, and the callbacks are **not** run: they would see that database
without the block's writes. As after a crash, they are lost.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from contextlib import ContextDecorator
from types import TracebackType
from typing import Any

from accord.contrib.django.tpc.config import (
    decision_log,
    get_settings,
    participant_for,
    resolve_alias,
)
from accord.contrib.django.tpc.connection import DjangoSQLConnection, database, fresh_connection
from accord.core.errors import AtomicBlockActive, ConfigurationError, OutcomeUnknown
from accord.core.tpc.contract import Participant
from accord.core.tpc.coordinator import GlobalTransaction, Result
from accord.core.validate import number_or_none

__all__ = ["atomic"]

logger = logging.getLogger("accord.tpc")


def reopen(participant: Participant) -> Participant:
    """End *participant*'s session and give a participant on a new one (phase-two retries)."""
    abandon = getattr(participant.connection, "abandon", None)
    if abandon is not None:
        abandon()
    return participant_for(fresh_connection(participant.alias))


class _Outer:
    """Stands in Django's ``atomic_blocks`` for the global block (durable checks read it)."""

    _from_testcase = False
    durable = False


def _check_aliases(aliases: tuple[str, ...]) -> tuple[str, ...]:
    if len(aliases) < 2:
        raise ConfigurationError(
            f"tpc.atomic{aliases!r} needs at least two database aliases; "
            "for one database use django.db.transaction.atomic(using=...)"
        )
    repeated = sorted({a for a in aliases if aliases.count(a) > 1})
    if repeated:
        raise ConfigurationError(
            f"tpc.atomic{aliases!r} names {', '.join(map(repr, repeated))} more than once; "
            "name each database alias once"
        )
    return aliases


class _Block:
    """One run of a ``tpc.atomic`` block on the current thread."""

    def __init__(self, aliases: tuple[str, ...], prepare_timeout: float | None) -> None:
        self.prepare_timeout = prepare_timeout
        self.aliases = tuple(resolve_alias(a) for a in aliases)  # checked by atomic()
        self.wrappers = [database(a) for a in self.aliases]
        self.sessions = [
            DjangoSQLConnection(w, a) for w, a in zip(self.wrappers, self.aliases, strict=True)
        ]
        self.result: Result | None = None

    def enter(self) -> None:
        for alias, wrapper in zip(self.aliases, self.wrappers, strict=True):
            if wrapper.in_atomic_block or not wrapper.get_autocommit():
                raise AtomicBlockActive(
                    f"tpc.atomic cannot start: database alias {alias!r} is already in a "
                    "transaction (transaction.atomic, ATOMIC_REQUESTS or a TestCase); "
                    "enter tpc.atomic outside it (use TransactionTestCase in tests)"
                )
        participants = [participant_for(s) for s in self.sessions]
        conf = get_settings()
        self.coordinator = GlobalTransaction(
            participants,
            decision_log(conf),
            conf.node,
            reopen=reopen,
            phase_two_timeout=conf.phase_two_timeout,
            prepare_timeout=conf.prepare_timeout
            if self.prepare_timeout is None
            else self.prepare_timeout,
        )
        for wrapper, session in zip(self.wrappers, self.sessions, strict=True):
            wrapper.commit_on_exit = True
            wrapper.needs_rollback = False
            wrapper.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
            wrapper.in_atomic_block = True
            wrapper.atomic_blocks.append(_Outer())  # type: ignore[arg-type]
            wrapper.execute_wrappers.append(session.track)
        try:
            self.coordinator.begin()
        except BaseException:
            self._close_django_blocks()
            self._restore(committed=False)
            raise

    def exit(self, failed: bool) -> None:
        must_roll_back = failed or any(
            w.needs_rollback or w.closed_in_transaction for w in self.wrappers
        )
        self._close_django_blocks()
        if must_roll_back:
            self.result = self.coordinator.rollback()
            self._restore(committed=False)
            return
        try:
            self.result = result = self.coordinator.commit()
        except OutcomeUnknown:
            for wrapper in self.wrappers:  # gone sessions let recovery finish their branches
                wrapper.run_on_commit = []
                wrapper.close()
            raise
        except BaseException:
            self._restore(committed=False)
            raise
        if result.pending:
            dropped = sum(len(w.run_on_commit) for w in self.wrappers)
            if dropped:
                logger.warning(
                    "%d on_commit callback(s) of %s not run: %s not committed yet (recovery "
                    "will), so they would not see the block's writes there",
                    dropped,
                    result.xid,
                    ", ".join(map(repr, result.pending)),
                )
        self._restore(committed=not result.pending)

    def _close_django_blocks(self) -> None:
        for wrapper, session in zip(self.wrappers, self.sessions, strict=True):
            if session.track in wrapper.execute_wrappers:
                wrapper.execute_wrappers.remove(session.track)
            if wrapper.atomic_blocks and isinstance(wrapper.atomic_blocks[-1], _Outer):
                wrapper.atomic_blocks.pop()
            wrapper.in_atomic_block = False

    def _restore(self, *, committed: bool) -> None:
        # Every alias leaves its transaction before any callback runs: a callback
        # may use another participating alias.
        callbacks = []
        for wrapper in self.wrappers:
            hooks, wrapper.run_on_commit = wrapper.run_on_commit, []
            callbacks.append(hooks if committed else [])
            wrapper.needs_rollback = False
            if wrapper.closed_in_transaction:
                wrapper.closed_in_transaction = False
                wrapper.connection = None
                continue
            try:
                wrapper.set_autocommit(True)
            except Exception:  # a broken or abandoned session: Django reconnects next time
                with contextlib.suppress(Exception):
                    wrapper.close()
        for wrapper, hooks in zip(self.wrappers, callbacks, strict=True):
            wrapper.run_on_commit = hooks
            wrapper.run_and_clear_commit_hooks()


class atomic(ContextDecorator):  # named like django.db.transaction.atomic
    """A block (or decorated function) that commits on every alias, or on none.

    Failure behaviour: see :mod:`accord.contrib.django.tpc.atomic`. After a
    block, :attr:`result` holds the :class:`~accord.core.tpc.Result` of the
    latest run on this thread (``xid``, ``outcome``, ``pending``,
    ``unconfirmed``). *prepare_timeout* (seconds) overrides the
    ``PREPARE_TIMEOUT`` setting for this block.
    """

    def __init__(self, *aliases: str, prepare_timeout: float | None = None) -> None:
        self.aliases = _check_aliases(aliases)
        self.prepare_timeout = number_or_none(
            prepare_timeout,
            "tpc.atomic: prepare_timeout",
            minimum=0,
            above=True,
            unit="seconds",
            optional=True,
        )
        self._local = threading.local()

    def _stack(self) -> list[_Block]:
        stack: list[_Block] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @property
    def result(self) -> Result | None:
        """The outcome of this thread's latest completed block, or None."""
        return getattr(self._local, "result", None)

    def __enter__(self) -> atomic:
        block = _Block(self.aliases, self.prepare_timeout)
        block.enter()
        self._stack().append(block)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        block = self._stack().pop()
        try:
            block.exit(failed=exc_type is not None)
        finally:
            self._local.result = block.result

    def __call__(self, func: Any) -> Any:
        return super().__call__(func)
