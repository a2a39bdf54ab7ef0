"""What the worker's main process does for singleton tasks: release when the child cannot.

Failure behaviour first: every release here is owner-checked (it frees the key
only if this task id still holds it, so a later holder is never touched) and
best effort: a lock server failure is logged, and the lease then runs out by
itself after ``lease`` seconds.

The pool child releases the lease itself when the body returns or raises
(soft time limits included). The main process covers what the child cannot:

* a hard time limit (the child is killed): :meth:`SingletonRequest.on_timeout`;
* a child that died (SIGKILL, out of memory): :meth:`SingletonRequest.on_failure`
  with ``WorkerLostError``;
* a revoked task, before it ran (its reservation) or terminated while running:
  the ``task_revoked`` signal handler.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback  # type: ignore[attr-defined]
from billiard.exceptions import WorkerLostError
from celery import signals
from celery.worker.request import Request

from accord.contrib.celery.lease import release_quietly
from accord.contrib.celery.owners import Owner, nonce
from accord.contrib.celery.task import RUN_FIELD
from accord.core.errors import AccordError

__all__ = ["SingletonRequest", "release_for"]

logger = logging.getLogger("accord.celery")


def release_for(
    task: Any, task_id: str | None, args: Any, kwargs: Any, why: str, *, owner: str | None = None
) -> bool:
    """Release the key of *task*'s call (*args*, *kwargs*) if *task_id* holds it.

    With *owner* (one run's owner string), only that run's lease is released;
    without, any holder of that task id (its reservation or a run of it).
    Returns True when it was released. Never raises: errors are logged.
    """
    from accord.contrib.celery.task import SingletonTask

    if not isinstance(task, SingletonTask) or not task_id:
        return False
    try:
        _, name = task.singleton_key(args, kwargs)
        backend = task.lock_backend()
        if owner is None:
            held = backend.holder(name)
            if held is None or Owner.parse(held[0]).task_id != task_id:
                return False
            owner = held[0]
        released = release_quietly(backend, name, owner)
    except AccordError as exc:
        logger.warning("cannot release singleton task %s (%s): %s", task_id, why, exc)
        return False
    if released:
        logger.info("released singleton task %s[%s]: %s", task.name, task_id, why)
    return released


class SingletonRequest(Request):
    """The worker's request for a singleton task: names its run, releases when the child cannot."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The run's nonce, made here so that this process can release exactly this
        # run's lease; the pool process reads it from the request.
        self._request_dict[RUN_FIELD] = nonce()  # type: ignore[attr-defined]

    @property
    def run_owner(self) -> str:
        """The owner string of this delivery's run."""
        fields: dict[str, Any] = self._request_dict  # type: ignore[attr-defined]
        return str(Owner.run(self.id, int(fields.get("retries") or 0), fields[RUN_FIELD]))

    def on_timeout(self, soft: bool, timeout: float) -> None:
        """As Celery's, then release the key after a hard time limit killed the child."""
        super().on_timeout(soft, timeout)
        if not soft:
            release_for(
                self.task, self.id, self.args, self.kwargs, "hard time limit", owner=self.run_owner
            )

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        """As Celery's, then release the key if the child running it died."""
        try:
            super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        finally:
            exc = exc_info.exception
            if isinstance(exc, ExceptionWithTraceback):
                exc = exc.exc
            if isinstance(exc, (WorkerLostError, SystemExit)):
                release_for(
                    self.task, self.id, self.args, self.kwargs, "worker process lost",
                    owner=self.run_owner,
                )  # fmt: skip


@signals.task_revoked.connect(weak=False)
def _release_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    if request is not None:
        release_for(sender, request.id, request.args, request.kwargs, "revoked")
