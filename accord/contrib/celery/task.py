"""``SingletonTask``: the Celery task class behind :func:`singleton_task`.

Failure behaviour first:

* A call whose key arguments cannot be serialised canonically raises
  :class:`~accord.core.errors.TaskKeyError` from ``apply_async``/``delay``;
  nothing is enqueued.
* A duplicate call at enqueue returns the holder's ``AsyncResult``
  (``on_duplicate="return_existing"``), raises
  :class:`~accord.core.errors.AlreadyRunning` with ``holder_id``
  (``"raise"``) or returns ``None`` (``"drop"``).
* A duplicate found by the worker is not run: its result is stored as
  ``FAILURE`` with :class:`~accord.core.errors.DuplicateTask` (``holder_id``
  names the task id that held the key), so ``AsyncResult.get()`` raises it.
* A lock server that fails raises
  :class:`~accord.core.errors.LockBackendError` from ``apply_async``, or in
  the worker before the body runs (the task then fails and the body did not run).
* No lock URL (neither ``lock_url=`` nor the ``accord_lock_url`` setting)
  raises :class:`~accord.core.errors.ConfigurationError` at the first call.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from celery import Task, signals, states
from celery.backends.base import DisabledBackend
from celery.exceptions import Ignore, Retry

from accord.contrib.celery.keys import lock_name
from accord.contrib.celery.lease import (
    Lease,
    SingletonBackend,
    backend_for,
    end_run,
    release_quietly,
)
from accord.contrib.celery.options import SingletonConfig
from accord.contrib.celery.owners import RESERVED, RUN, Owner
from accord.core.errors import AlreadyRunning, ConfigurationError, DuplicateTask, TaskError
from accord.core.plugins import notify

__all__ = ["RESERVATION_FIELD", "RUN_FIELD", "SingletonTask", "task_function"]

logger = logging.getLogger("accord.celery")

#: Tries at enqueue (or in the worker) when the key changes hands between two reads.
_ENQUEUE_TRIES = 3

#: The request field in which the worker's main process passes a run's nonce to the pool.
RUN_FIELD = "accord_run"

#: The message header naming the reservation the message's run takes over.
RESERVATION_FIELD = "accord_reservation"

#: Options that make a call part of a canvas (a group, a chord, a chain or a callback).
_CANVAS = ("group_id", "chord", "chain", "link", "link_error")

#: Exceptions of a FAILURE the worker's main process stores while the run may still live.
_KILLED_BY_MAIN = frozenset({"TimeLimitExceeded", "WorkerLostError"})

# Set while a run re-sends its own message (retry, deferral): not a new call.
_resending: contextvars.ContextVar[bool] = contextvars.ContextVar("accord_resending", default=False)


def task_function(run: Any) -> Any:
    """The function whose signature binds a call: *run* without ``self`` if bound."""
    if isinstance(run, staticmethod):
        return run.__func__
    return functools.partial(run, None)  # bind=True: the first parameter is the task


def _delay_of(options: Mapping[str, Any]) -> float:
    """Seconds until a message with *options* (countdown/eta) may run."""
    eta = options.get("eta")
    if isinstance(eta, datetime.datetime):
        now = datetime.datetime.now(eta.tzinfo or None)
        return max((eta - now).total_seconds(), 0.0)
    countdown = options.get("countdown")
    return max(float(countdown), 0.0) if countdown else 0.0


def _retry_delay(exc: Retry) -> float:
    when = exc.when
    if isinstance(when, datetime.datetime):
        return _delay_of({"eta": when})
    return float(when) if isinstance(when, (int, float)) else 0.0


class SingletonTask(Task):  # type: ignore[type-arg]
    """A Celery task of which at most one copy per key is queued or running.

    Declare it with :func:`~accord.contrib.celery.singleton_task`, or as
    ``@app.task(base=SingletonTask, singleton={...})`` with the same options.
    Failure behaviour: see the module docstring.

    In the body, ``self.singleton`` (with ``bind=True``) or
    :func:`~accord.contrib.celery.current_lease` is the run's
    :class:`~accord.contrib.celery.lease.Lease`: its ``token`` is the fencing
    token (also ``self.request.singleton_token``) and ``ensure_held()``
    raises :class:`~accord.core.errors.LockLost` once the lease is lost.
    """

    Request = "accord.contrib.celery.worker:SingletonRequest"
    _singleton_options: Mapping[str, Any] | None = None
    _singleton_config: SingletonConfig | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Celery makes a subclass per task with the decorator's options as class
        # attributes: keep ``singleton={...}`` aside, so ``self.singleton`` is the lease.
        options = cls.__dict__.get("singleton")
        if isinstance(options, Mapping):
            cls._singleton_options = options
            delattr(cls, "singleton")
        run = cls.__dict__.get("run")
        if cls.__dict__.get("name") and run is not None:  # a task made by a decorator
            cls._singleton_config = SingletonConfig.parse(
                cls.__dict__["name"], task_function(run), cls._singleton_options
            )

    # -- configuration ------------------------------------------------------------

    @property
    def singleton(self) -> Lease | None:
        """The current run's lease (None outside a run of this task)."""
        return getattr(self.request, "singleton", None)

    def singleton_config(self) -> SingletonConfig:
        """The task's checked options (parsed on first use if Celery made the task late)."""
        config = type(self)._singleton_config
        if config is None:
            config = SingletonConfig.parse(self.name, self.run, self._singleton_options)
            type(self)._singleton_config = config
        return config

    def lock_backend(self) -> SingletonBackend:
        """The lock backend: ``lock_url=``, else the Celery setting ``accord_lock_url``.

        Read once per process (the settings are not looked up per call).

        :raises ConfigurationError: neither is set, or the URL is invalid.
        """
        cached = self.__dict__.get("_accord_backend")
        if cached is not None and cached[0] == os.getpid():  # a forked child makes its own
            return cached[1]  # type: ignore[no-any-return]
        config = self.singleton_config()
        url = config.lock_url or self.app.conf.get("accord_lock_url")
        if not url:
            raise ConfigurationError(
                f"singleton task {self.name!r} has no lock URL: set the Celery setting "
                "accord_lock_url (CELERY_ACCORD_LOCK_URL in a Django project whose Celery "
                "settings are namespaced), or pass lock_url='redis://...' to the task."
            )
        options = dict(self.app.conf.get("accord_lock_options") or {})
        backend = backend_for(url, {**options, **config.lock_options})
        self.__dict__["_accord_backend"] = (os.getpid(), backend)
        return backend

    def singleton_key(
        self, args: Any = None, kwargs: Mapping[str, Any] | None = None
    ) -> tuple[str, str]:
        """The key of a call and its lock name; TaskKeyError if the arguments have none."""
        key = self.singleton_config().keys.key(args, kwargs)
        return key, lock_name(key)

    # -- enqueue ------------------------------------------------------------------

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        *rest: Any,
        **options: Any,
    ) -> Any:
        """Enqueue the call unless its key is held (see the class docstring).

        The reservation lasts ``reserve`` seconds after the message may run
        (``countdown``/``eta``), at most until it ``expires``, unless the
        worker takes it over first. A message the current run sends for its
        own task id (``self.retry()``) and canvas members (a group, chord or
        chain; their results must resolve) are sent unreserved: the worker
        decides for them.
        """
        config = self.singleton_config()
        key, name = self.singleton_key(args, kwargs)
        if self._own_message(task_id) and not _resending.get():  # self.retry()
            lease: Lease = vars(self.request)["singleton"]
            lease.successor = str(Owner.reservation(str(task_id), int(options.get("retries") or 0)))
            options["headers"] = {
                **(options.get("headers") or {}),
                RESERVATION_FIELD: lease.successor,
            }
            return super().apply_async(args, kwargs, task_id, *rest, **options)
        if (
            config.reserve is None
            or self.app.conf.task_always_eager
            or _resending.get()
            or any(options.get(option) for option in _CANVAS)
        ):
            return super().apply_async(args, kwargs, task_id, *rest, **options)
        chosen = task_id is not None  # by the caller: its result may be another's too
        task_id = task_id or str(uuid.uuid4())
        backend = self.lock_backend()
        # A lease that lives with a session (ZooKeeper) would live as long as the
        # caller's process: such backends reserve with a node that has an end.
        reserve = getattr(backend, "reserve", None) if not backend.expires else None
        if not backend.expires and reserve is None:  # a plugin's: check, do not reserve
            held = backend.holder(name)
            if held is not None:
                return self._duplicate_at_enqueue(key, Owner.parse(held[0]).task_id)
            return super().apply_async(args, kwargs, task_id, *rest, **options)
        ttl = _delay_of(options) + config.reserve
        expires = options.get("expires")
        if isinstance(expires, (int, float)) and not isinstance(expires, bool):
            ttl = min(ttl, max(float(expires), 0.001))
        owner = str(Owner.reservation(task_id))
        options["headers"] = {**(options.get("headers") or {}), RESERVATION_FIELD: owner}
        later = getattr(backend, "acquire_later", None) if reserve is None else None
        if later is not None:  # the common case: the round trip overlaps building the message
            sent = self._send_reserved(later(name, owner, ttl), backend, name, owner, task_id,
                                       chosen, args, kwargs, rest, options)  # fmt: skip
            if sent is not _HELD:
                return sent
        for attempt in range(_ENQUEUE_TRIES):
            if attempt or later is None:  # (the first try was made while sending)
                taken = (
                    reserve(name, owner, ttl) if reserve else backend.acquire(name, owner, ttl, 0)
                )
                if taken is not None:
                    break
            held = backend.holder(name)
            if held is not None:  # another call's, or this task id's own (sent twice)
                holder = Owner.parse(held[0])
                if not self._ended(holder):
                    return self._duplicate_at_enqueue(key, holder.task_id)
                if backend.take_over(name, held[0], owner, ttl):
                    break
                continue  # the ended run released meanwhile: take the key afresh
            # Freed between the two calls: try again; if it keeps changing hands,
            # send it unreserved and let the worker's lease decide.
        try:
            return super().apply_async(args, kwargs, task_id, *rest, **options)
        except BaseException:
            release_quietly(backend, name, owner)  # never sent: nothing will take it over
            raise

    def _send_reserved(
        self,
        answer: Callable[[], int | None],
        backend: SingletonBackend,
        name: str,
        owner: str,
        task_id: str,
        chosen: bool,
        args: Any,
        kwargs: Any,
        rest: tuple[Any, ...],
        options: dict[str, Any],
    ) -> Any:
        """Send the call with the reservation's *answer* read just before the message is published.

        Celery builds the message while the reservation's round trip is on
        its way; ``before_task_publish`` reads the answer, and stops the
        publication (nothing is sent) when the key is held: then
        :data:`_HELD` is returned and the caller looks at the holder. A lock
        server failure is raised, and nothing is sent.
        """
        gate = _Gate(self.name, answer)
        _watch_publish(self.name)
        reset = _gate.set(gate)
        try:
            result = super().apply_async(args, kwargs, task_id, *rest, **options)
        except _Stop:
            if gate.error is not None:
                raise gate.error from gate.error.__cause__  # as raised, not by _Stop
            consumer = getattr(self.backend, "result_consumer", None)
            if consumer is not None and not chosen:  # subscribed to a result never to come
                with contextlib.suppress(Exception):
                    consumer.cancel_for(task_id)
            return _HELD
        except BaseException:
            if gate.read_quietly() is not None:
                release_quietly(backend, name, owner)  # never sent: nothing will take it over
            raise
        finally:
            _gate.reset(reset)
        if not gate.done and gate.read() is None:  # published by a path without the signal
            logger.warning(
                "singleton task %s[%s] was sent while its key was held: the worker will refuse "
                "it as a duplicate", self.name, task_id,
            )  # fmt: skip
        return result

    def revoke_call(
        self,
        task_id: Any,
        args: Any = None,
        kwargs: Mapping[str, Any] | None = None,
        **revoke_options: Any,
    ) -> bool:
        """Revoke a call of this task and free its key at once if it is only reserved.

        Failure behaviour first: a *task_id* that is neither a task id nor an
        ``AsyncResult`` raises :class:`~accord.core.errors.TaskError`; key
        arguments without a canonical form raise
        :class:`~accord.core.errors.TaskKeyError`; a lock server failure
        raises :class:`~accord.core.errors.LockBackendError` (the revoke was
        sent; the reservation then ends by itself).

        Sends Celery's ``revoke`` (*revoke_options*: ``terminate``,
        ``signal``...), then releases the reservation of *task_id* for the
        key of *args*/*kwargs* (the call's own arguments): at once, whether or
        not a worker holds the message (none running, or it is still in the
        broker). The release is owner-checked: it frees the key only while a
        reservation of *task_id* holds it, never another call's key, and never
        a run of *task_id* that started (that run keeps its key until it ends,
        or until the worker has killed it for ``terminate=True``). Returns
        True when it released a reservation.
        """
        task_id = getattr(task_id, "id", task_id)
        if not isinstance(task_id, str) or not task_id:
            raise TaskError(
                f"revoke_call() got task_id={task_id!r}: expected a task id (str) or the "
                "AsyncResult that apply_async()/delay() returned."
            )
        self.app.control.revoke(task_id, **revoke_options)
        _, name = self.singleton_key(args, kwargs)
        backend = self.lock_backend()
        held = backend.holder(name)
        if held is None:
            return False
        holder = Owner.parse(held[0])
        if holder.task_id != task_id or holder.kind != RESERVED:
            return False
        released = backend.release(name, held[0])
        if released:
            logger.info(
                "singleton task %s[%s]: revoked, its reservation released", self.name, task_id
            )
        return released

    def _own_message(self, task_id: str | None) -> bool:
        """True when the running singleton run sends a message for its own task id."""
        if task_id is None:  # a new call (no request lookup: this is the enqueue path)
            return False
        request = self.request
        return task_id == request.id and isinstance(getattr(request, "singleton", None), Lease)

    def _duplicate_at_enqueue(self, key: str, holder_id: str) -> Any:
        notify(
            "accord_task_duplicate_suppressed",
            task_name=self.name,
            key=key,
            holder_id=holder_id,
            stage="enqueue",
        )
        on_duplicate = self.singleton_config().on_duplicate
        if on_duplicate == "raise":
            raise AlreadyRunning(
                f"singleton task {self.name!r} with key {_digest(key)} is already queued or "
                f"running as task {holder_id}; on_duplicate='raise'.",
                holder_id=holder_id,
            )
        if on_duplicate == "drop":
            return None
        return self.AsyncResult(holder_id)

    # -- run ----------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body if this delivery can own the key; see the class docstring."""
        request = self.request
        if request.called_directly or not request.id:
            return super().__call__(*args, **kwargs)  # a plain function call: no lease
        config = self.singleton_config()
        key, name = self.singleton_key(args, kwargs)
        backend = self.lock_backend()
        retries = int(request.retries or 0)
        owner = Owner.run(request.id, retries, getattr(request, RUN_FIELD, None))
        since = time.monotonic()  # the lease counts from before the call that took it
        token = self._take(backend, key, name, owner, config)
        lease = Lease.adopt(
            name, backend=backend, owner=str(owner), token=token, ttl=config.ttl,
            since=since, max_lease=config.max_lease,
        )  # fmt: skip
        # The request context is per run (and per thread): the lease lives there.
        vars(request).update(singleton=lease, singleton_token=token)
        if self._finished(request):
            end_run(lease)
            vars(request).update(singleton=None)
            raise Ignore(f"task {request.id} already finished: this later delivery is not run")
        try:
            return super().__call__(*args, **kwargs)
        except Retry as exc:
            # The retry is a new run of this task id: it takes the lease over from
            # a reservation for its number, kept for its countdown and a lease.
            retry = lease.successor or str(Owner.reservation(request.id, retries + 1))
            lease.hand_on(retry, _retry_delay(exc) + config.ttl)
            raise
        # Any other end: the task_postrun handler releases the lease, once the
        # result is stored (so a later delivery sees that this run finished).

    def _take(
        self, backend: SingletonBackend, key: str, name: str, owner: Owner, config: SingletonConfig
    ) -> int:
        """The run's fencing token; or raise what the delivery must do instead of running."""
        reserved = getattr(self.request, RESERVATION_FIELD, None)
        if isinstance(reserved, str) and Owner.parse(reserved).retries == owner.retries:
            # The common case: one round trip takes over the reservation the message names.
            token = backend.take_over(name, reserved, str(owner), config.ttl)
            if token is not None:
                return token
        for _ in range(_ENQUEUE_TRIES):
            token = backend.acquire(name, str(owner), config.ttl, 0)
            if token is not None:
                return token
            held = backend.holder(name)
            if held is None:
                continue  # freed meanwhile
            holder = Owner.parse(held[0])
            if holder.task_id != owner.task_id:
                if self._ended(holder):
                    token = backend.take_over(name, held[0], str(owner), config.ttl)
                    if token is not None:
                        return token
                    continue
                self._duplicate_in_worker(key, holder.task_id)
            if holder.retries > owner.retries:  # a later retry owns the work now
                raise Ignore(
                    f"task {owner.task_id}: delivery {owner.retries} is stale, retry "
                    f"{holder.retries} has taken over"
                )
            if holder.kind == RESERVED:
                token = backend.take_over(name, held[0], str(owner), config.ttl)
                if token is not None:
                    return token
                continue
            self._defer(key, holder, config)  # another delivery of this task id runs
        return self._defer(key, None, config)

    def _defer(self, key: str, holder: Owner | None, config: SingletonConfig) -> NoReturn:
        """Send this delivery again for later and end this one without a result."""
        request = self.request
        if request.is_eager:
            raise self._duplicate_error(key, request.id)
        delay = min(max(config.ttl / 3, 0.5), 5.0)
        logger.info(
            "singleton task %s[%s]: another delivery of this task id runs (%s); "
            "this one comes back in %.1f s",
            self.name, request.id, holder, delay,
        )  # fmt: skip
        token = _resending.set(True)
        try:
            self.signature_from_request(request, countdown=delay).apply_async()
        finally:
            _resending.reset(token)
        raise Ignore(f"task {request.id}: deferred, another delivery of it runs")

    def _finished(self, request: Any) -> bool:
        """True when the task id's result is final: a later delivery must not run it again."""
        if request.is_eager or request.ignore_result:
            return False
        return self._final(request.id)

    def _ended(self, holder: Owner) -> bool:
        """True when *holder* is a run whose body has ended: its release is on its way.

        The lease is released only after the result is stored (so a later
        delivery of the task id sees it finished); meanwhile a new call may
        take the key over, rather than be told the finished task holds it.
        Only results the run stores itself count: ``SUCCESS``, or ``FAILURE``
        with what its body raised. ``REVOKED`` and a ``FAILURE`` with
        ``TimeLimitExceeded`` or ``WorkerLostError`` are stored by the
        worker's main process while the run may still be being killed.
        """
        if holder.kind != RUN or not self._results_readable():
            return False
        try:
            meta = self.backend.get_task_meta(holder.task_id)
        except Exception as exc:  # the result backend failed: as if it had no result
            logger.warning("cannot read the state of task %s: %s", holder.task_id, exc)
            return False
        if meta.get("status") == states.SUCCESS:
            return True
        raised = type(meta.get("result")).__name__
        return meta.get("status") == states.FAILURE and raised not in _KILLED_BY_MAIN

    def _results_readable(self) -> bool:
        return not (
            self.ignore_result
            or self.request.is_eager
            or self.app.conf.task_always_eager
            or isinstance(self.backend, DisabledBackend)
        )

    def _final(self, task_id: str) -> bool:
        """True when *task_id* has a final state in the result backend (False: unknown)."""
        if not self._results_readable():
            return False
        try:
            return self.backend.get_state(task_id) in states.READY_STATES
        except Exception as exc:  # the result backend failed: as if it had no result
            logger.warning("cannot read the state of task %s: %s", task_id, exc)
            return False

    def _duplicate_error(self, key: str, holder_id: str | None) -> DuplicateTask:
        return DuplicateTask(
            f"singleton task {self.name!r} with key {_digest(key)} was not run: task "
            f"{holder_id} held the key when the worker took it up.",
            holder_id,
        )

    def _duplicate_in_worker(self, key: str, holder_id: str | None) -> NoReturn:
        request = self.request
        if self._finished(request):  # a late delivery of a task that finished
            raise Ignore(f"task {request.id} already finished: this later delivery is not run")
        notify(
            "accord_task_duplicate_suppressed",
            task_name=self.name,
            key=key,
            holder_id=holder_id or "",
            stage="worker",
        )
        exc = self._duplicate_error(key, holder_id)
        if request.is_eager:  # apply(), task_always_eager: as the worker's result, raised
            raise exc
        if request.id and not (request.ignore_result or self.ignore_result):
            self.backend.mark_as_failure(request.id, exc, request=request)
        raise Ignore(str(exc))


def _digest(key: str) -> str:
    """How messages name a key: its lock name (a digest), never the arguments in it.

    Arguments may be secrets, and these messages are stored in the result
    backend (``DuplicateTask``) and logged by callers (``AlreadyRunning``).
    """
    return lock_name(key)


class _Stop(BaseException):
    """Stops Celery's publication of a singleton call whose key is held (or whose lock failed).

    A BaseException: ``before_task_publish`` receivers' ``Exception`` are
    logged by Celery and the message sent all the same.
    """


#: What :meth:`SingletonTask._send_reserved` returns when the key was held.
_HELD: Any = object()


class _Gate:
    """A reservation whose answer is read just before its call's message is published."""

    __slots__ = ("answer", "done", "error", "task_name", "token")

    def __init__(self, task_name: str, answer: Callable[[], int | None]) -> None:
        self.task_name, self.answer = task_name, answer
        self.done = False
        self.token: int | None = None
        self.error: BaseException | None = None

    def read(self) -> int | None:
        """The reservation's token, or None when the key is held (read once)."""
        if not self.done:
            self.done = True
            self.token = self.answer()
        return self.token

    def read_quietly(self) -> int | None:
        """As :meth:`read`; a failure is logged, and counts as not reserved."""
        try:
            return self.read()
        except Exception as exc:
            logger.warning("reading the reservation of a %s call failed: %s", self.task_name, exc)
            return None


_gate: contextvars.ContextVar[_Gate | None] = contextvars.ContextVar("accord_gate", default=None)
_watched: set[str] = set()


def _watch_publish(task_name: str) -> None:
    """Read the reservation before each message of *task_name* is published (see _Gate)."""
    if task_name not in _watched:
        _watched.add(task_name)
        signals.before_task_publish.connect(_read_gate, sender=task_name, weak=False)


def _read_gate(sender: Any = None, **_: Any) -> None:
    gate = _gate.get()
    if gate is None or gate.done or gate.task_name != sender:
        return
    try:
        token = gate.read()
    except BaseException as exc:  # raised by the caller: Celery would log and send
        gate.error = exc
        raise _Stop from exc
    if token is None:
        raise _Stop


def _release_after_run(task: Any, **_: Any) -> None:
    """Release the run's lease once its result is stored (task_postrun).

    A lease lost meanwhile makes ``Lease.release`` raise ``NotOwned``:
    :func:`~accord.contrib.celery.lease.end_run` logs it (the loss is marked
    and its hook fired by the release), and the stored result stands.
    """
    lease = getattr(getattr(task, "request", None), "singleton", None)
    if isinstance(lease, Lease):
        end_run(lease)


signals.task_postrun.connect(_release_after_run, weak=False)
