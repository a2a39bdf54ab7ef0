"""AsyncLock under cancellation, on every backend (real servers).

Hole 4 of issue 11: a cancelled acquire ran on in a thread and took the lock
later, with no owner left to release it.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from lock_cases import Case, lock_case_fixture  # noqa: F401  (the parametrized fixture)

from accord.core.lock import AsyncLock, Lock


def test_a_cancelled_acquire_leaves_the_lock_free_for_the_next(lock_case: Case) -> None:
    holder = Lock("job", lock_case.url, options=lock_case.options)
    holder.acquire()

    async def scenario() -> bool:
        quitter = AsyncLock("job", lock_case.url, options=lock_case.options)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(quitter.acquire(), 0.5)
        assert not quitter.held
        await asyncio.to_thread(holder.release)
        await asyncio.sleep(0.5)  # an abandoned attempt would take the lock now
        patient = AsyncLock("job", lock_case.url, options=lock_case.options)
        got = await patient.acquire(timeout=2)
        if got:
            await patient.release()
        return got

    assert asyncio.run(scenario())


def test_a_cancelled_acquire_returns_at_once(lock_case: Case) -> None:
    holder = Lock("job", lock_case.url, options=lock_case.options)
    holder.acquire()

    async def scenario() -> float:
        task = asyncio.ensure_future(
            AsyncLock("job", lock_case.url, options=lock_case.options).acquire()
        )
        await asyncio.sleep(0.3)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    try:
        # asyncio.run also waits for the default executor: an attempt left running would hang it
        started = time.monotonic()
        assert asyncio.run(scenario()) < 0.5
        assert time.monotonic() - started < 2
    finally:
        holder.release()
