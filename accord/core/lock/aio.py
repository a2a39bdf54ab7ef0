"""The asyncio twin of :class:`~accord.core.lock.Lock`: :class:`AsyncLock`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
from types import TracebackType
from typing import Any

from accord.core.errors import LockBackendError, NotOwned
from accord.core.lock.core import LockCore

__all__ = ["AsyncLock"]


class AsyncLock(LockCore):
    """:class:`~accord.core.lock.Lock` for asyncio: ``await lock.acquire()``, ``async with lock:``.

    Failure behaviour, arguments, fencing and loss notice are those of
    :class:`~accord.core.lock.Lock`. On Redis, waiting is native asyncio (no
    thread is blocked), with one connection pool per event loop. Other
    backends wait in a thread of their own. Lease renewal runs on accord's
    renewer threads, so a busy event loop does not starve it.

    **Cancellation** (``task.cancel()``, ``asyncio.wait_for`` timing out)
    abandons the attempt at once: the waiter leaves the queue (Redis,
    ZooKeeper, file, memory; a plugin backend that cannot stop a waiting
    acquire goes on waiting in its thread), and a lock taken by an attempt
    after it was cancelled is released at once, so it is never left held by
    nobody.
    """

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; True when held, False when *timeout* ran out (see ``Lock.acquire``)."""
        owner, timeout = self._prepare(blocking, timeout)
        started = time.monotonic()
        native = getattr(self.backend, "acquire_async", None)
        if native is None:
            token = await self._acquire_in_thread(owner, timeout)
        else:
            try:
                token = await native(self.name, owner, self.ttl, timeout)
            except BaseException:
                self._release_later(owner)  # it may have taken the lock before it failed
                raise
        return self._acquired(owner, token, started)

    async def _acquire_in_thread(self, owner: str, timeout: float | None) -> int | None:
        cancel = threading.Event()
        call: Any = functools.partial(self.backend.acquire, self.name, owner, self.ttl, timeout)
        if getattr(self.backend, "cancellable", False):
            call = functools.partial(call, cancel=cancel)
        done: concurrent.futures.Future[int | None] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(call())
            except BaseException as exc:
                done.set_exception(exc)

        # A thread of its own, a daemon: an attempt that cannot be stopped must
        # not hold up the loop's executor, asyncio.run's exit or the interpreter's.
        threading.Thread(target=run, name="accord-lock-acquire", daemon=True).start()
        try:
            return await asyncio.shield(asyncio.wrap_future(done))
        except asyncio.CancelledError:
            cancel.set()
            done.add_done_callback(functools.partial(self._release_late, owner))
            raise
        except BaseException:
            self._release_later(owner)  # it may have taken the lock before it failed
            raise

    def _release_late(self, owner: str, done: concurrent.futures.Future[int | None]) -> None:
        """Release what a cancelled attempt took after all, or may have taken before failing."""
        if done.exception() is None and done.result() is None:
            return  # it gave up: nothing taken
        self._release_later(owner)

    async def release(self) -> None:
        """Free the lock (see ``Lock.release``); NotOwned if not held or lost."""
        owner, lost = self._take_owner()
        native = getattr(self.backend, "release_async", None)
        try:
            if native is not None:
                ok = await native(self.name, owner)
            else:
                ok = await asyncio.to_thread(self.backend.release, self.name, owner)
        except LockBackendError:
            self._release_later(owner, 0.1)  # a lease that does not expire must still end
            raise
        self._released(owner, bool(ok), lost)

    async def locked(self) -> bool:
        """True when anyone (this object or another holder) holds the lock now.

        Asks the server without blocking the loop. Raises
        :class:`~accord.core.errors.LockBackendError` if the server fails.
        """
        native = getattr(self.backend, "is_locked_async", None)
        if native is not None:
            return bool(await native(self.name))
        return await asyncio.to_thread(self.backend.is_locked, self.name)

    async def __aenter__(self) -> AsyncLock:
        if not await self.acquire(timeout=self.timeout):
            raise self._timed_out()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.release()
        except (NotOwned, LockBackendError) as error:
            raised = self._exit_error(error, exc)
            if raised is not None:
                raise raised from error
