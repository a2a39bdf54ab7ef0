"""accord's Celery integration: :func:`singleton_task`, at most one copy of a task per key.

Failure behaviour first: options that are wrong raise
:class:`~accord.core.errors.ConfigurationError` when the task is declared;
a call whose key arguments cannot be serialised raises
:class:`~accord.core.errors.TaskKeyError` before anything is enqueued;
duplicates are answered as ``on_duplicate`` says (see :func:`singleton_task`);
a duplicate that reaches a worker is not run and ends as ``FAILURE`` with
:class:`~accord.core.errors.DuplicateTask`. The guide is ``docs/celery.rst``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from accord.core.optional import import_optional

import_optional("celery", extra="celery", purpose="Singleton tasks (accord.contrib.celery)")

from accord.contrib.celery import worker as _worker  # noqa: E402, F401  (connects the revoke handler)
from accord.contrib.celery.lease import Lease  # noqa: E402
from accord.contrib.celery.options import DEFAULT, SingletonConfig, _Default  # noqa: E402
from accord.contrib.celery.task import SingletonTask, task_function  # noqa: E402
from accord.core.errors import ConfigurationError, TaskError  # noqa: E402

__all__ = ["Lease", "SingletonTask", "current_lease", "singleton_task"]


def singleton_task(
    fun: Callable[..., Any] | None = None,
    *,
    key: Sequence[str] | Callable[..., Any] | _Default | None = DEFAULT,
    on_duplicate: str | _Default = DEFAULT,
    ttl: float | _Default = DEFAULT,
    max_lease: float | _Default | None = DEFAULT,
    reserve: float | _Default | None = DEFAULT,
    lock_url: str | _Default | None = DEFAULT,
    lock_options: Mapping[str, Any] | _Default | None = DEFAULT,
    app: Any = None,
    base: type[SingletonTask] = SingletonTask,
    lease: float | _Default = DEFAULT,
    **task_options: Any,
) -> Any:
    """Declare a Celery task of which at most one copy per key is queued or running.

    Failure behaviour first: invalid options raise
    :class:`~accord.core.errors.ConfigurationError` here, naming the value
    and what is accepted; the run-time behaviour is in ``docs/celery.rst``.

    Use it bare (``@singleton_task``) or with options; every other keyword
    (``bind=True``, ``name=``, ``max_retries=``, ``acks_late=``...) goes to
    Celery. Without ``app=`` it is a ``shared_task``. An option left out
    (``DEFAULT``) takes the default of the field of that name of
    :class:`~accord.contrib.celery.options.SingletonConfig` (the table of
    options in the guide lists them).

    :param key: ``None``: the task name and every argument, bound to the
        signature with defaults applied; a list of argument names; ``()``:
        one per task name; or a callable taking the task's arguments.
    :param on_duplicate: what a caller gets when the key is held at enqueue:
        ``"return_existing"`` (the holder's ``AsyncResult``), ``"raise"``
        (:class:`~accord.core.errors.AlreadyRunning` with ``holder_id``) or
        ``"drop"`` (``None``).
    :param ttl: seconds the execution lease lasts if not renewed (as
        ``Lock(ttl=)``); renewed every ``ttl / 3`` while the body runs, so a
        killed worker's key is free after at most this long.
    :param max_lease: stop renewing after this many seconds of holding (None:
        no cap); the lease is then released and lost, and ``ensure_held()`` raises.
    :param reserve: seconds an enqueue reservation lasts after the message
        may run (its ``countdown``/``eta``), unless the worker adopts it
        first; ``None`` or ``False``: no reservation, the worker alone guards.
    :param lock_url: the lock backend URL; default: the Celery setting
        ``accord_lock_url``.
    :param lock_options: the lock backend options, the same mapping as
        ``Lock(options=...)`` takes (default: the Celery setting
        ``accord_lock_options``, then these on top).
    :param app: a Celery app to register with (default: ``shared_task``).
    :param base: a subclass of :class:`SingletonTask` to use as base class.
    :param lease: deprecated spelling of *ttl* (warns; both together raise
        :class:`~accord.core.errors.ConfigurationError`).
    """
    if not (isinstance(base, type) and issubclass(base, SingletonTask)):
        raise ConfigurationError(
            f"base={base!r} is invalid: singleton tasks need a subclass of "
            "accord.contrib.celery.SingletonTask."
        )
    if lease is not DEFAULT:
        if ttl is not DEFAULT:
            raise ConfigurationError(
                f"singleton_task() got both ttl={ttl!r} and lease={lease!r}: pass only ttl= "
                "(lease= is its deprecated spelling)."
            )
        warnings.warn(
            "singleton_task(lease=...) is deprecated: use singleton_task(ttl=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        ttl = lease
    given = {
        "key": key,
        "on_duplicate": on_duplicate,
        "ttl": ttl,
        "max_lease": max_lease,
        "reserve": reserve,
        "lock_url": lock_url,
        "lock_options": lock_options,
    }
    options = {name: value for name, value in given.items() if value is not DEFAULT}

    def decorate(function: Callable[..., Any]) -> Any:
        name = task_options.get("name") or f"{function.__module__}.{function.__qualname__}"
        run = function if task_options.get("bind") else staticmethod(function)
        SingletonConfig.parse(name, task_function(run), options)  # fail at declaration
        if app is not None:
            register = app.task
        else:
            from celery import shared_task as register
        return register(base=base, singleton=options, **task_options)(function)

    return decorate(fun) if fun is not None else decorate


def current_lease() -> Lease:
    """The execution lease of the singleton task running in this thread.

    Failure behaviour first: raises :class:`~accord.core.errors.TaskError`
    when no singleton task is running here. Use it in tasks declared without
    ``bind=True``; bound tasks have ``self.singleton``.
    """
    from celery import current_task

    lease = getattr(getattr(current_task, "request", None), "singleton", None)
    if not isinstance(lease, Lease):
        raise TaskError(
            "current_lease() was called outside the run of a singleton task (or in a "
            "task that was called directly, which takes no lease)."
        )
    return lease
