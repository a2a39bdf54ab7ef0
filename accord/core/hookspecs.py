"""Every hook accord calls, grouped by primitive.

A plugin is any object (usually a module) with functions named after these
specs and marked with :data:`accord.hookimpl`. Install it as a distribution
with an entry point in group ``accord``, or register it at run time with
``accord.core.plugins.get_plugin_manager().register(plugin, name)``.

Two kinds of hooks:

**Providers** (``firstresult``): accord asks "who can make this?" and takes
the first answer that is not ``None``. Plugins registered later are asked
first, and accord's own built-ins are registered before any other plugin, so
they answer last: a plugin can add a name or replace a built-in one. Return
``None`` for anything you do not provide.

**Observers**: accord tells every implementation that something happened,
for metrics, logging or tracing. Their return values are ignored. An
exception raised by an observer is logged (logger ``accord.plugins``, with the
traceback) and does not disturb the operation that fired it. Observers run
in the thread that caused the event, so keep them quick.

Parameters are passed by name; an implementation may accept any subset of a
spec's parameters. An observer hook that no plugin implements costs one set
lookup where it would fire (the high-rate ones, such as
:func:`accord_cache_operation`, are not even measured then). URLs passed
to hooks never contain passwords (they are replaced by ``***``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # the specs' types, without importing the primitives at plugin load
    from accord.core.lock.base import LockBackend
    from accord.core.ring import HashRing
    from accord.core.tpc.contract import DecisionLog, Participant, SQLConnection

PROJECT_NAME = "accord"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a function as an implementation of one of the hooks below.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: What ``accord_hash_function`` returns: bytes in, an unsigned integer out.
HashFunction = Callable[[bytes], int]


# --------------------------------------------------------------------------
# Consistent hash ring
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def accord_hash_function(name: str) -> HashFunction | None:
    """Provide the hash function a :class:`~accord.core.ring.HashRing` calls *name*.

    Called when a ring is built with ``hash="<name>"``; the answer is cached
    by the ring, not asked again per lookup.

    :param name: the name the user wrote, e.g. ``"md5"`` or ``"xxh3"``.
    :returns: a function that takes ``bytes`` and returns an unsigned integer
        (``0 <= h < 2**64``), deterministic across processes and machines and
        uniformly spread; or ``None`` if this plugin does not know *name*.

    Built-ins: ``md5`` and ``xxh3``. When no plugin answers, the ring raises
    :class:`~accord.core.errors.UnknownProviderError` listing the known names.
    """


@hookspec
def accord_ring_changed(ring: HashRing, added: Sequence[str], removed: Sequence[str]) -> None:
    """Observe one node joining or leaving a ring.

    Called by :meth:`HashRing.add_node <accord.core.ring.HashRing.add_node>`
    and :meth:`~accord.core.ring.HashRing.remove_node`, once per call, after
    the change took effect (lookups already see the new ring), from the
    thread that made it. Building a ring, copying one, and RingCache (whose
    ring is fixed by its settings; an ejected node stays in it) never call it.

    :param ring: the :class:`~accord.core.ring.HashRing` that changed.
    :param added: ``(name,)`` after ``add_node(name)``, else ``()``.
    :param removed: ``(name,)`` after ``remove_node(name)``, else ``()``.
    """


@hookspec
def accord_node_ejected(
    source: str, node: str, error: BaseException | None, failures: int, retry_after: float
) -> None:
    """Observe a node taken out of service after repeated failures.

    Called by the ring cache (``failover="eject"`` or ``"miss"``) when a
    node has failed *failures* times in a row. Under ``eject`` its keys go to
    the next node in their preference list until it is readmitted; under
    ``miss`` they read as misses. Called once per ejection, from the thread
    whose request saw the last failure.

    :param source: who ejected it, e.g. ``"cache:default"`` (the cache alias).
    :param node: the node's name (its URL without password).
    :param error: the last error seen, or ``None``.
    :param failures: consecutive failures that led to the ejection.
    :param retry_after: seconds until the node is probed again.
    """


@hookspec
def accord_node_restored(source: str, node: str, downtime: float) -> None:
    """Observe an ejected node readmitted after a successful probe.

    By the time this is called the node has been flushed (so nothing it held
    before the outage can be served stale) and the copies written to
    stand-in nodes meanwhile have been deleted.

    :param source: as in :func:`accord_node_ejected`.
    :param node: the node's name (its URL without password).
    :param downtime: seconds the node was out of service.
    """


@hookspec
def accord_node_failed(source: str, node: str, error: BaseException, failures: int) -> None:
    """Observe one failed call to a cache node (a connection error or a timeout).

    Called by the ring cache for every call that a node failed, under every
    ``failover`` policy (under ``raise`` just before the error reaches the
    caller), from the thread that saw it. :func:`accord_node_ejected` follows
    when the failures reach ``failure_threshold``.

    :param source: as in :func:`accord_node_ejected`.
    :param node: the node's name (its URL without password).
    :param error: the error the call got.
    :param failures: consecutive failures of the node so far, this one
        included (``0`` under ``raise``, which counts none, and for a node
        already out of service).
    """


@hookspec
def accord_cache_operation(
    source: str, operation: str, node: str, duration: float, hits: int, misses: int
) -> None:
    """Observe one ring-cache operation: its latency, and its hits and misses per node.

    Called after every operation of a ``RingCache`` (sync or async), whether
    it succeeded or raised, from the thread (or task) that ran it. An
    operation on one key is told once, with the key's node. One on several
    keys (``get_many``, ``set_many``, ``delete_many``) is told once per node
    that owns some of the keys, each with the whole operation's *duration*:
    the nodes are asked at the same time, in one round trip. Whole-cache
    operations (``clear``, ``iter_keys``, ``delete_pattern``) are not told.

    :param source: who ran it, e.g. ``"cache:default"`` (the cache alias).
    :param operation: the cache method, without the ``a`` of its async twin:
        ``"get"``, ``"set"``, ``"add"``, ``"touch"``, ``"delete"``,
        ``"has_key"``, ``"incr"``, ``"ttl"``, ``"expire"``, ``"persist"``,
        ``"get_many"``, ``"set_many"`` or ``"delete_many"``.
    :param node: the name of the node that owns the key(s) on the ring (its
        URL without password). While that node is out of service the call is
        served by a stand-in or reads as a miss, and is still told under the
        owner's name.
    :param duration: seconds the operation took, repairs due before it included.
    :param hits: for ``get`` and ``get_many``, the keys of *node* found; else 0.
    :param misses: for ``get`` and ``get_many``, the keys of *node* not found
        (including those of a failed or ejected node); else 0.
    """


# --------------------------------------------------------------------------
# Distributed lock
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def accord_lock_backend(scheme: str, url: str, options: Mapping[str, Any]) -> LockBackend | None:
    """Provide the lock backend for a URL scheme.

    Called when a :class:`~accord.core.lock.Lock` is made from a URL; backends
    are cached per URL and options, so this is not asked per lock. An
    exception raised here (e.g. :class:`~accord.core.errors.ConfigurationError`
    for a malformed URL) reaches the caller that made the lock.

    :param scheme: the URL's scheme, lower-cased, e.g. ``"redis"``, ``"file"``.
    :param url: the whole URL, as the user wrote it (it may hold a password:
        never log it).
    :param options: backend options the user passed besides the URL (the
        extra keyword arguments of ``Lock(...)``); refuse unknown ones.
    :returns: a lock backend (an object that implements
        :class:`~accord.core.lock.base.LockBackend`), or ``None`` if this
        plugin does not serve *scheme*.

    Built-ins: ``redis``, ``rediss``, ``unix``, ``zookeeper``, ``file``,
    ``memory``. When no plugin answers, accord raises
    :class:`~accord.core.errors.UnknownProviderError` listing the schemes.
    """


@hookspec
def accord_lock_acquired(name: str, url: str, token: int, wait: float) -> None:
    """Observe a lock acquired.

    :param name: the lock's name.
    :param url: the backend URL without password.
    :param token: the fencing token of this acquisition.
    :param wait: seconds spent waiting in ``acquire``.
    """


@hookspec
def accord_lock_not_acquired(name: str, url: str, wait: float) -> None:
    """Observe an acquire that gave up: the lock stayed held by another holder.

    Called when ``acquire`` returns ``False`` or raises
    :class:`~accord.core.errors.LockTimeout` (its ``timeout`` ran out, or
    ``blocking=False`` found the lock held). Not called when the backend
    failed (that error reaches the caller).

    :param name: the lock's name.
    :param url: the backend URL without password.
    :param wait: seconds spent waiting in ``acquire``.
    """


@hookspec
def accord_lock_released(name: str, url: str, token: int, held: float) -> None:
    """Observe a lock released by its holder.

    :param name: the lock's name.
    :param url: the backend URL without password.
    :param token: the fencing token of the acquisition that ended.
    :param held: seconds the lock was held.
    """


@hookspec
def accord_lock_lost(name: str, url: str, token: int, held: float, reason: str) -> None:
    """Observe a lock lost while its holder still ran.

    Called once per loss, before the lock's ``on_lost`` callbacks, on accord's
    notifier thread (or in ``release()`` when that is where the loss is
    found), never on the renewal path: an observer that blocks delays other
    notices, not renewals. The holder may still be running its critical
    section (``ensure_held()`` raises from the moment the loss is known).

    :param name: the lock's name.
    :param url: the backend URL without password.
    :param token: the fencing token of the lost acquisition.
    :param held: seconds between acquisition and the loss being noticed.
    :param reason: why, in words (never empty): ``"expired"`` (``renew=False``
        and the ``ttl`` ran out); ``"expired or taken by another holder"`` (a
        renewal found the lease gone: deleted, expired, or a ZooKeeper node of
        a session that ended); ``"renewal failed: <error>"`` (the server
        failed until the lease ran out, or did not answer a renewal before the
        lease ended); ``"expired: no renewal was confirmed within the lease
        ..."`` (no renewal ran in time, e.g. this process was paused);
        ``"ZooKeeper connection SUSPENDED: ..."`` (the connection was lost: the
        session, and the lock, may expire before it is back);
        ``"ZooKeeper session LOST: ..."`` (the session expired).
    """


# --------------------------------------------------------------------------
# Celery singleton tasks
# --------------------------------------------------------------------------


@hookspec
def accord_task_duplicate_suppressed(task_name: str, key: str, holder_id: str, stage: str) -> None:
    """Observe a singleton task call that was not run because its key is held.

    Called once per suppressed call, in the process that stopped it: the
    caller's (``stage="enqueue"``, before ``apply_async`` returns what
    ``on_duplicate`` says) or the worker's pool process (``stage="worker"``,
    before the call's result is stored as ``FAILURE`` with
    :class:`~accord.core.errors.DuplicateTask`).

    :param task_name: the Celery task name.
    :param key: the singleton key: the task name, ``:``, and the canonical
        JSON of the key arguments, e.g. ``app.rebuild:{"account_id":7}``.
        It holds the key arguments' values (not the other arguments'), so
        an observer that exports it exports them: choose key arguments that
        are not secrets (error messages and stored results show only the
        key's digest).
    :param holder_id: the Celery task id that holds the key (``""`` if the
        holder was gone by the time it was read).
    :param stage: ``"enqueue"`` (stopped at ``apply_async``) or ``"worker"``
        (stopped before the body ran).
    """


# --------------------------------------------------------------------------
# Two-phase commit
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def accord_tpc_participant(
    vendor: str, connection: SQLConnection, alias: str
) -> Participant | None:
    """Provide the two-phase-commit participant for a database connection.

    Called once per alias each time a ``tpc.atomic`` block is entered, and per
    alias by recovery (on recovery's own sessions), before anything is written.

    :param vendor: the database vendor, e.g. ``"postgresql"``, ``"mysql"``
        (Django's ``connection.vendor``).
    :param connection: the session, as an
        :class:`~accord.core.tpc.contract.SQLConnection` adapter; in the Django
        adapter its ``wrapper`` attribute is the Django ``DatabaseWrapper``.
    :param alias: the connection's alias, e.g. ``"default"``.
    :returns: a participant (see :class:`~accord.core.tpc.contract.Participant`),
        or ``None`` if this plugin cannot drive *vendor*.

    Built-ins: PostgreSQL (``PREPARE TRANSACTION``) and MySQL/MariaDB (XA).
    When no plugin answers, ``tpc.atomic`` raises
    :class:`~accord.core.errors.ConfigurationError` naming the alias and vendor.
    """


@hookspec(firstresult=True)
def accord_decision_log(scheme: str, url: str, options: Mapping[str, Any]) -> DecisionLog | None:
    """Provide the durable store of two-phase-commit decisions for a URL scheme.

    Called once per thread for the ``DECISION_LOG`` setting: an alias becomes
    ``django://<alias>``; a URL is passed as written.

    :param scheme: the URL's scheme, lower-cased, e.g. ``"django"``, ``"zookeeper"``.
    :param url: the whole URL, as the user wrote it (it may hold a password:
        never log it, and show it only through :func:`accord.core.urls.redact`).
    :param options: a new dict of the store's options: the
        ``ACCORD["TPC"]["DECISION_LOG_OPTIONS"]`` setting (``{}`` when unset),
        e.g. ``{"timeout": 5}`` for ZooKeeper. A store that takes none should
        raise :class:`~accord.core.errors.ConfigurationError` for any it is given.
    :returns: a decision log (see :class:`~accord.core.tpc.contract.DecisionLog`),
        or ``None`` if this plugin does not serve *scheme*. Its ``url`` attribute
        must be the URL with its password redacted (it is shown in messages), and
        its failures should be :class:`~accord.core.errors.DecisionLogError` with
        the store's error chained.

    Built-ins: ``django`` (a table in a Django database) and ``zookeeper``.
    The store must make an insert-if-absent per xid durable before returning,
    so that recovery's abort fence and the coordinator's commit cannot both win.
    """


@hookspec
def accord_tpc_outcome(
    xid: str,
    outcome: str,
    participants: Sequence[str],
    duration: float,
    pending: Sequence[str],
    phases: Mapping[str, float],
) -> None:
    """Observe the end of a global transaction.

    Called by the coordinator once per ``tpc.atomic`` block, however it ends:
    after phase two (before ``on_commit`` callbacks run), after a rollback
    (an exception in the block, a participant that failed to prepare, a
    prepare timeout), when recovery fenced it, or when its outcome is unknown.

    :param xid: the global transaction id.
    :param outcome: ``"committed"``, ``"one-phase"`` (at most one participant
        wrote: committed without 2PC), ``"rolled back"``, ``"fenced"``
        (recovery had recorded abort first: rolled back) or ``"in doubt"``
        (the decision may not be durable; left to recovery).
    :param participants: the aliases that took part.
    :param duration: seconds from entering the block to the end.
    :param pending: the aliases whose prepared branch could not be committed
        in phase two (``"committed"`` only): recovery will; until then their
        writes are invisible and the block's ``on_commit`` callbacks did not run.
    :param phases: seconds spent in each phase of the commit that ran, by
        name: ``"prepare"`` (every branch prepared, at once), ``"decide"``
        (the decision made durable, with the logging last resource's commit)
        and ``"phase two"`` (the prepared branches committed). Empty for a
        one-phase commit and a rollback before prepare; a commit that failed
        in a phase has the phases up to and including that one.
    """


@hookspec
def accord_tpc_hazard(xid: str, participant: str, detail: str) -> None:
    """Observe a branch that accord did not resolve itself and cannot vouch for.

    Called by the coordinator when a prepared branch was gone before phase two
    could commit it, and by recovery when a branch it saw prepared was ended
    by someone else: against the decision (the server says so: PostgreSQL),
    or in a way the server cannot tell (MySQL). Such a branch may have been
    rolled back by hand while the others committed. Also logged at WARNING.

    :param xid: the global transaction id.
    :param participant: the alias of the branch.
    :param detail: what was found, in words.
    """


@hookspec
def accord_tpc_in_doubt_resolved(xid: str, outcome: str, participant: str, age: float) -> None:
    """Observe recovery resolving one in-doubt (prepared) branch.

    Called once per branch recovery committed or rolled back (not for branches
    it skipped or found already resolved).

    :param xid: the global transaction id.
    :param outcome: ``"committed"`` or ``"rolled back"``.
    :param participant: the alias whose branch was resolved.
    :param age: seconds since the branch was prepared (PostgreSQL), or since
        recovery first saw it (MySQL, which does not record prepare time).
    """


@hookspec
def accord_tpc_recovery_ran(
    branches: int, oldest_age: float, unresolved: int, dry_run: bool
) -> None:
    """Observe the end of one recovery run (``accord_recover``, ``tpc.recover()``).

    Called once per run that held the log's recovery lock (a run locked out
    by another worker tells nothing), after every branch was handled.

    :param branches: the prepared (in-doubt) branches of this deployment the
        run found, whatever it then did with them.
    :param oldest_age: seconds since the oldest of them was prepared (as the
        ``age`` of :func:`accord_tpc_in_doubt_resolved`); ``0.0`` if none.
        This is the number to alert on: a prepared branch holds its row locks
        and holds back PostgreSQL's vacuum until it is resolved.
    :param unresolved: of *branches*, those still prepared after the run
        because the database refused or their owner session is still
        connected (branches in flight, younger than the recovery delay, not
        counted).
    :param dry_run: ``True`` for a dry run, which changed nothing.
    """
