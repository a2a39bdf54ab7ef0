"""Redis-only behaviour of the lock: its waiter queue, and a server that dies (real Redis)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from accord.core.errors import LockBackendError
from accord.core.lock import AsyncLock, Lock, base
from accord.core.lock.backends.redis import RedisBackend, holder_key


@pytest.fixture
def url(redis_server: Any) -> Iterator[str]:
    yield f"{redis_server.url}/0"
    base.clear_backend_cache()


def test_a_waiter_that_died_in_the_queue_is_skipped_after_waiter_lease(url: str) -> None:
    holder = Lock("job", url, waiter_lease=0.4)
    holder.acquire()
    backend = holder.backend
    assert isinstance(backend, RedisBackend)
    # A waiter that queues, then never comes back (its process died).
    backend._acquire(keys=[holder_key("job")], args=["ghost", 10000, "1", 400])
    time.sleep(0.5)  # past its waiter_lease
    holder.release()  # must not hand the lock to the ghost
    started = time.monotonic()
    assert Lock("job", url).acquire(timeout=2)
    assert time.monotonic() - started < 0.2


def test_a_waiter_that_times_out_leaves_the_queue_and_passes_the_lock_on(url: str) -> None:
    holder = Lock("job", url)
    holder.acquire()
    late = Lock("job", url)
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(late.acquire(timeout=3)))
    assert not Lock("job", url).acquire(timeout=0.2)  # queued first, then gave up
    thread.start()
    time.sleep(0.2)
    holder.release()
    thread.join(5)
    assert got == [True]
    late.release()


def test_a_cancelled_async_waiter_leaves_the_queue(url: str) -> None:
    async def scenario() -> bool:
        async with AsyncLock("job", url):
            waiter = asyncio.ensure_future(AsyncLock("job", url).acquire())
            await asyncio.sleep(0.2)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        return await AsyncLock("job", url).acquire(timeout=1)

    assert asyncio.run(scenario())


def test_a_server_that_dies_while_held_makes_the_lock_lost(redis_server: Any, url: str) -> None:
    reasons: list[str] = []
    lock = Lock("job", url, ttl=0.6, socket_timeout=0.2, on_lost=lambda _l, r: reasons.append(r))
    lock.acquire()
    redis_server.kill()
    time.sleep(0.6 + 0.5)
    assert lock.lost
    assert reasons
    assert reasons[0].startswith("renewal failed")
    with pytest.raises(LockBackendError):
        Lock("job", url).acquire(timeout=0.2)
