"""The asyncio twin of :class:`~accord.core.lock.Lock`: :class:`AsyncLock`."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from accord.core.errors import LockBackendError, NotOwned
from accord.core.lock.lock import LockCore

__all__ = ["AsyncLock"]


class AsyncLock(LockCore):
    """:class:`~accord.core.lock.Lock` for asyncio: ``await lock.acquire()``, ``async with lock:``.

    Failure behaviour, arguments, fencing and loss notice are those of
    :class:`~accord.core.lock.Lock`. On Redis, waiting is native asyncio (no
    thread is blocked); other backends run their blocking calls in the default
    executor. Lease renewal runs on accord's shared renewer thread, so a busy
    event loop does not starve it. Cancelling a waiting ``acquire`` leaves the
    queue (Redis) or abandons the attempt.
    """

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; True when held, False when *timeout* ran out (see ``Lock.acquire``)."""
        owner, timeout = self._prepare(blocking, timeout)
        started = time.monotonic()
        native = getattr(self.backend, "acquire_async", None)
        if native is not None:
            token = await native(self.name, owner, self.ttl, timeout)
        else:
            token = await asyncio.to_thread(
                self.backend.acquire, self.name, owner, self.ttl, timeout
            )
        return self._acquired(owner, token, started)

    async def release(self) -> None:
        """Free the lock (see ``Lock.release``); NotOwned if not held or lost."""
        owner = self._take_owner()
        native = getattr(self.backend, "release_async", None)
        if native is not None:
            ok = await native(self.name, owner)
        else:
            ok = await asyncio.to_thread(self.backend.release, self.name, owner)
        self._released(owner, bool(ok))

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
