"""Every exception accord raises, in one tree.

Catch :class:`AccordError` to catch anything accord raises on purpose. Errors
caused by bad input also derive from the built-in exception a Python user
would expect (``ValueError``, ``TypeError``, ``LookupError``, ``ImportError``),
so ``except ValueError`` keeps working. Errors that wrap a server or driver
failure chain it (``raise ... from exc``): the cause is in ``__cause__``.

::

    AccordError
    ├── ConfigurationError (ValueError)     a setting, URL, option or argument is invalid
    │   └── UnknownProviderError (LookupError)  no plugin answers for a name or URL scheme
    ├── MissingDependency (ImportError)     an optional dependency is not installed
    ├── PluginError                         a plugin cannot be loaded or declares a bad hook
    ├── RingError
    │   ├── EmptyRingError (LookupError)    a lookup on a ring that has no nodes
    │   └── RingTypeError (TypeError)       a ring key, node name or weight of the wrong type
    ├── LockError                           anything about a distributed lock
    │   ├── LockTimeout                     acquire(timeout=...) ran out of time
    │   ├── LockLost                        the lease was lost while the holder ran
    │   ├── NotOwned                        release()/renew by someone who does not hold it
    │   └── LockBackendError                the lock's server failed or is unreachable
    ├── TaskError
    │   ├── AlreadyRunning                  a singleton task's key is held by another task id
    │   │   └── DuplicateTask               the result of a call the worker did not run
    │   └── TaskKeyError (TypeError)        a call's arguments cannot make a singleton key
    └── TPCError                            anything about a two-phase commit
        ├── PrepareFailed                   a participant refused to prepare; all rolled back
        ├── TransactionFenced               recovery decided abort first; all rolled back
        ├── TransactionTimeout              the block outran its prepare timeout; all rolled back
        ├── OutcomeUnknown                  the coordinator cannot tell yet; recovery will
        ├── AtomicBlockActive               tpc.atomic inside an atomic block of an alias
        ├── DecisionConflict                a heuristic decision contradicts the recorded one
        ├── DecisionLogError                the decision log's store failed; the cause is chained
        └── RecoveryError                   recovery could not resolve a transaction

Warnings: :class:`AccordPluginWarning` (a plugin was skipped, and why).

:class:`~accord.testing.errors.ServiceUnavailable` (a server a test needs is
missing) is an ``AccordError`` too, but lives in :mod:`accord.testing`, the
only part of accord that raises it.
"""

from __future__ import annotations

__all__ = [
    "AccordError",
    "AccordPluginWarning",
    "AlreadyRunning",
    "AtomicBlockActive",
    "ConfigurationError",
    "DecisionConflict",
    "DecisionLogError",
    "DuplicateTask",
    "EmptyRingError",
    "LockBackendError",
    "LockError",
    "LockLost",
    "LockTimeout",
    "MissingDependency",
    "NotOwned",
    "OutcomeUnknown",
    "PluginError",
    "PrepareFailed",
    "RecoveryError",
    "RingError",
    "RingTypeError",
    "TPCError",
    "TaskError",
    "TaskKeyError",
    "TransactionFenced",
    "TransactionTimeout",
    "UnknownProviderError",
]


class AccordError(Exception):
    """The root of every exception accord raises on purpose."""


class ConfigurationError(AccordError, ValueError):
    """A setting, URL, option or argument is invalid.

    The message names the offending value and the accepted forms.
    """


class UnknownProviderError(ConfigurationError, LookupError):
    """No built-in and no plugin provides the requested name or URL scheme.

    The message lists the names that are available, and plugins that failed
    to load (one of them may have been meant to provide it).
    """


class MissingDependency(AccordError, ImportError):
    """An optional dependency is not installed.

    The message names the extra to install, e.g. ``pip install "accord[redis]"``.
    """


class PluginError(AccordError):
    """A plugin cannot be registered: its hooks are misspelt or malformed,
    or the ``ACCORD_DISABLE_PLUGINS`` setting is invalid.

    The message names the plugin and what was wrong with it.
    """


class RingError(AccordError):
    """A consistent hash ring cannot answer."""


class EmptyRingError(RingError, LookupError):
    """A key was looked up on a ring that has no nodes."""


class RingTypeError(RingError, TypeError):
    """A ring was given a key, node name, weight or option of the wrong type.

    The message names the value, its type and the accepted types.
    """


class LockError(AccordError):
    """Anything that goes wrong with a distributed lock."""


class LockTimeout(LockError):
    """``acquire(timeout=...)`` ran out of time before the lock was free."""


class LockLost(LockError):
    """The holder's lease ended (expired, deleted, or the session died) while it ran."""


class NotOwned(LockError):
    """The caller tried to release or renew a lock it does not hold."""


class LockBackendError(LockError):
    """The lock's server failed or could not be reached; the cause is chained."""


class TaskError(AccordError):
    """Anything that goes wrong in accord's Celery integration."""


class AlreadyRunning(TaskError):
    """A singleton task was called while another task id holds its key.

    ``holder_id`` is the Celery task id of the running (or queued) copy.
    """

    def __init__(self, message: str, *, holder_id: str | None = None) -> None:
        super().__init__(message)
        self.holder_id = holder_id


class DuplicateTask(AlreadyRunning):
    """The stored result of a singleton task call that the worker did not run.

    A worker that finds the call's key held by another task id stores this as
    the call's ``FAILURE`` result (so ``AsyncResult.get()`` raises it) instead
    of running the body. ``holder_id`` is the task id that held the key; wait
    on ``AsyncResult(holder_id)`` for the run that happened instead. Both
    values are in ``args``, so the exception survives the result backend.
    """

    def __init__(self, message: str, holder_id: str | None = None) -> None:
        super().__init__(message, holder_id=holder_id)
        self.args = (message, holder_id)

    def __str__(self) -> str:
        return str(self.args[0])


class TaskKeyError(TaskError, TypeError):
    """A singleton task call whose key arguments have no canonical form.

    Raised at call time, before anything is enqueued. The message names the
    argument, its value and type, and the accepted types.
    """


class TPCError(AccordError):
    """Anything that goes wrong in a two-phase commit."""


class PrepareFailed(TPCError):
    """A database refused the block's writes at the commit point; every database was rolled back.

    Raised when a participant's ``PREPARE TRANSACTION`` / ``XA PREPARE`` fails
    (a deferred constraint, a serialization failure, ``max_prepared_transactions
    = 0``, a branch the server rolled back), or when the one database that is
    committed without preparing (the decision log's, or the only one that
    wrote) refuses its ``COMMIT``. The message names the database alias and
    what the database said; the driver's exception is the ``__cause__``.
    Nothing was committed anywhere.
    """


class TransactionFenced(TPCError):
    """Recovery recorded abort for this transaction before its coordinator could commit.

    The coordinator was slower than the recovery delay; nothing was committed
    anywhere and every branch is (or will be) rolled back. ``xid`` names it.
    """

    def __init__(self, message: str, *, xid: str = "") -> None:
        super().__init__(message)
        self.xid = xid


class TransactionTimeout(TPCError):
    """The block ran longer than its prepare timeout; every participant was rolled back.

    Raised before anything is prepared, so no database holds the block's locks
    any longer. ``xid`` names the transaction.
    """

    def __init__(self, message: str, *, xid: str = "") -> None:
        super().__init__(message)
        self.xid = xid


class OutcomeUnknown(TPCError):
    """The outcome is not known yet (e.g. the acknowledgement was lost); recovery decides.

    ``xid`` is the global transaction id to pass to ``tpc.outcome()`` later.
    """

    def __init__(self, message: str, *, xid: str = "") -> None:
        super().__init__(message)
        self.xid = xid


class AtomicBlockActive(TPCError):
    """``tpc.atomic`` was entered while an alias is already in a transaction.

    An outer ``transaction.atomic`` (or ``ATOMIC_REQUESTS``, or a ``TestCase``)
    would commit or roll back on its own, outside the global transaction.
    """


class DecisionConflict(TPCError):
    """An operator's heuristic decision was refused: the log records the opposite one.

    ``accord_recover --commit XID`` when the log records abort (or
    ``--rollback`` when it records commit), or ``--commit`` of an undecided
    transaction without ``--force``. The message says what is recorded, by
    whom, and when; nothing was changed.
    """


class DecisionLogError(TPCError):
    """The decision log's store failed: a database or ZooKeeper error while reading or writing it.

    The message names the log (its URL, password redacted) and what the store
    said; the store's exception is the ``__cause__``. ``refused`` is True when
    the store answered with an error, so nothing was written; False when the
    write may or may not have happened (the connection was lost). A commit
    whose decision may or may not be recorded is not reported with this error
    but with :class:`OutcomeUnknown` (this error as its ``__cause__``).
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class RecoveryError(TPCError):
    """Recovery could not resolve an in-doubt transaction; it will be retried."""


class AccordPluginWarning(UserWarning):
    """A plugin was skipped (it failed to import or load); accord runs without it."""


#: Names that moved, and where to: importing them from here still works, with a
#: DeprecationWarning (listed under "Changes" in the docs).
_MOVED = {
    "ServiceUnavailable": ("accord.testing.errors", "ServiceUnavailable"),
    "BranchBusy": ("accord.core.tpc.contract", "BranchBusy"),
}


def __getattr__(name: str) -> object:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import warnings

    module, attribute = _MOVED[name]
    warnings.warn(
        f"accord.core.errors.{name} is deprecated: import {attribute} from {module}"
        + (
            " (it never reaches users: recovery retries the branch)" if name == "BranchBusy" else ""
        ),
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), attribute)
