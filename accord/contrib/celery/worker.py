"""What the worker's main process does for singleton tasks: release when the child cannot.

Failure behaviour first: every release here is owner-checked (it frees the key
only if this task id still holds it, so a later holder is never touched) and
best effort: a lock server failure is logged, and the lease then runs out by
itself after ``ttl`` seconds.

The pool child releases the lease itself when the body returns or raises
(soft time limits included). The main process covers what the child cannot:

* a hard time limit (the child is killed): :meth:`SingletonRequest.on_timeout`,
  once the child is gone;
* a child that died (SIGKILL, out of memory): :meth:`SingletonRequest.on_failure`
  with ``WorkerLostError``;
* a revoked task, terminated while running (once the child is gone): the
  ``task_revoked`` signal handler;
* a revoked task scheduled for later (``countdown``/``eta``): at once, when
  the worker gets the ``revoke`` command, not when the eta comes.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from billiard.einfo import ExceptionWithTraceback  # type: ignore[attr-defined]
from billiard.exceptions import WorkerLostError
from celery import signals
from celery.worker import control
from celery.worker import state as worker_state
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
        """As Celery's, then release the key once the child killed by a hard time limit is gone."""
        super().on_timeout(soft, timeout)
        if not soft:
            owner, pid = self.run_owner, int(self.worker_pid or 0) or None
            release_when_gone(
                pid,
                lambda: release_for(
                    self.task, self.id, self.args, self.kwargs, "hard time limit", owner=owner
                ),
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


#: Seconds the main process waits for a killed pool process to be gone before it
#: gives up releasing (the child, still alive, keeps and then releases its own lease).
GONE_WAIT = 60.0


def _alive(pid: int) -> bool:
    """True while process *pid* exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return not os.path.isdir("/proc/self")  # no /proc: trust kill(0)


def release_when_gone(pid: int | None, release: Callable[[], object]) -> None:
    """Call *release* once pool process *pid* is gone (at once if it is; never if it outlives
    :data:`GONE_WAIT`): a key must not be freed while the run that holds it may still run."""
    if not pid or not _alive(pid):
        release()
        return

    def wait() -> None:
        deadline = time.monotonic() + GONE_WAIT
        while _alive(pid):
            if time.monotonic() > deadline:
                logger.warning(
                    "pool process %s outlived its kill by %.0f s: its singleton lease is left "
                    "to it", pid, GONE_WAIT,
                )  # fmt: skip
                return
            time.sleep(0.02)
        release()

    threading.Thread(target=wait, name="accord-release-when-gone", daemon=True).start()


@signals.task_revoked.connect(weak=False)
def _release_revoked(
    sender: Any = None, request: Any = None, terminated: bool = False, **_: Any
) -> None:
    if request is None:
        return
    release = functools.partial(
        release_for, sender, request.id, request.args, request.kwargs, "revoked"
    )
    if not terminated:  # discarded before it ran: its reservation goes
        release()
        return
    # The signal was sent to the child running it: release only once that child is
    # surely gone (it may survive the signal), and only that run's lease.
    running = worker_state.requests.get(request.id)
    if isinstance(running, SingletonRequest):
        owner, pid = running.run_owner, int(running.worker_pid or 0) or None
        release = functools.partial(release, owner=owner)
        release_when_gone(pid, release)
    else:
        logger.warning("revoked singleton task %s: its run is unknown here", request.id)


def _release_revoked_at_once() -> None:
    """Make the worker's ``revoke`` command free a scheduled (countdown/eta) task's key at once.

    Celery discards a revoked scheduled message only when its eta comes; until
    then its reservation would keep the key. A task that is running keeps its
    key (revoke without ``terminate`` does not stop it).
    """
    original = control.Panel.data.get("revoke")
    if original is None or getattr(original, "accord_releases", False):
        return

    @functools.wraps(original)
    def revoke(state: Any, task_id: Any, terminate: bool = False, **kwargs: Any) -> Any:
        reply = original(state, task_id, terminate=terminate, **kwargs)
        if not terminate:
            ids = [task_id] if isinstance(task_id, str) else list(task_id or ())
            for revoked_id in ids:
                request = worker_state.requests.get(revoked_id)
                if isinstance(request, SingletonRequest) and (
                    request not in worker_state.active_requests
                ):
                    release_for(
                        request.task, revoked_id, request.args, request.kwargs,
                        "revoked before its eta",
                    )  # fmt: skip
        return reply

    revoke.accord_releases = True  # type: ignore[attr-defined]
    control.Panel.data["revoke"] = revoke


_release_revoked_at_once()
