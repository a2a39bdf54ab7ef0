"""Redis-only behaviour of the lock: its waiter queue, and a server that dies (real Redis)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from accord.core.errors import ConfigurationError, LockBackendError
from accord.core.lock import AsyncLock, Lock, base
from accord.core.lock.backends.redis import RedisBackend, holder_key
from accord.testing.faults import FaultProxy

WORKER = Path(__file__).with_name("lock_worker.py")


@pytest.fixture
def url(redis_server: Any) -> Iterator[str]:
    yield f"{redis_server.url}/0"
    base.clear_backend_cache()


def test_a_waiter_that_died_in_the_queue_is_skipped_after_waiter_lease(url: str) -> None:
    holder = Lock("job", url, options={"waiter_lease": 0.4})
    holder.acquire()
    backend = holder.backend
    assert isinstance(backend, RedisBackend)
    # A waiter that queues, then never comes back (its process died).
    backend.scripts["acquire"](keys=[holder_key("job")], args=["ghost", 10000, "1", 400, 50])
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
    lock = Lock(
        "job",
        url,
        ttl=0.6,
        on_lost=lambda _l, r: reasons.append(r),
        options={"socket_timeout": 0.2},
    )
    lock.acquire()
    redis_server.kill()
    time.sleep(0.6 + 0.5)
    assert lock.lost
    assert reasons
    assert reasons[0].startswith("renewal failed")
    with pytest.raises(LockBackendError):
        Lock("job", url).acquire(timeout=0.2)


# -- issue 11, hole 5: asyncio on Redis --------------------------------------------------


def test_async_lock_works_in_a_second_event_loop(url: str) -> None:
    async def once() -> int:
        async with AsyncLock("job", url) as lock:
            return lock.token

    first = asyncio.run(once())
    assert asyncio.run(once()) > first


def test_async_locked_is_awaited_not_blocking(url: str) -> None:
    async def scenario() -> list[bool]:
        lock = AsyncLock("job", url)
        seen = [await lock.locked()]
        async with lock:
            seen.append(await lock.locked())
        return seen

    assert asyncio.run(scenario()) == [False, True]


def test_an_async_waiter_that_gets_a_redis_error_leaves_the_queue(url: str) -> None:
    client = redis.Redis.from_url(url)
    queue = holder_key("job") + ":queue"

    async def scenario() -> None:
        holder = AsyncLock("job", url)
        await holder.acquire()
        waiter = asyncio.ensure_future(AsyncLock("job", url).acquire(timeout=10))
        await asyncio.sleep(0.3)
        (owner,) = client.zrange(queue, 0, -1)
        # Its wake list becomes a string: its next BLPOP fails with WRONGTYPE.
        client.set(holder_key("job") + ":wake:" + owner.decode(), "not a list")
        with pytest.raises(LockBackendError):
            await waiter
        assert client.zrange(queue, 0, -1) == []
        await holder.release()

    asyncio.run(scenario())


# -- hole 6: a waiter that died just before the hand-over -----------------------------------


def test_a_waiter_killed_just_before_the_hand_over_delays_the_next_under_a_second(
    url: str,
) -> None:
    client = redis.Redis.from_url(url)
    queue = holder_key("job") + ":queue"
    holder = Lock("job", url)
    holder.acquire()
    dead = subprocess.Popen(
        [sys.executable, str(WORKER), "hold", url, "job", "{}", "10"], stdout=subprocess.PIPE
    )
    try:
        wait_until(lambda: client.zcard(queue) == 1)
        got: list[float] = []
        live = threading.Thread(
            target=lambda: Lock("job", url).acquire(timeout=20) and got.append(time.monotonic())
        )
        live.start()
        wait_until(lambda: client.zcard(queue) == 2)
        dead.kill()
        dead.wait()
        time.sleep(0.3)  # well inside waiter_lease: the queue still counts it alive
        released = time.monotonic()
        holder.release()
        live.join(20)
        assert got
        assert got[0] - released < 1.0
    finally:
        dead.kill()
        dead.wait()


# -- hole 9: waiter_lease and socket_timeout together -------------------------------------------


def test_a_waiter_lease_over_twice_the_socket_timeout_still_waits_past_it(url: str) -> None:
    holder = Lock("job", url)
    holder.acquire()
    timer = threading.Timer(2.0, holder.release)
    timer.start()
    waiter = Lock("job", url, options={"waiter_lease": 4, "socket_timeout": 0.5})
    started = time.monotonic()
    try:
        assert waiter.acquire(timeout=6)
        assert time.monotonic() - started < 3
        waiter.release()
    finally:
        timer.join()


# -- hole 12: a database that is not a number -------------------------------------------------


@pytest.mark.parametrize("path", ["/zero", "/0/1", "/-1"])
def test_a_database_that_is_not_a_number_is_refused_naming_it(redis_server: Any, path: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(repr(path.lstrip("/")))):
        Lock("job", f"{redis_server.url}{path}")


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# -- acquire_later: the round trip overlaps the caller's work (singleton enqueue) -----------


def test_acquire_later_takes_a_free_lock_and_reports_a_held_one(url: str) -> None:
    backend = RedisBackend(url)
    first = backend.acquire_later("job", "a", 5.0)
    second = backend.acquire_later("other", "b", 5.0)  # two in flight on one thread
    token = first()
    assert token is not None
    assert second() is not None
    assert backend.acquire_later("job", "c", 5.0)() is None
    assert backend.holder("job") == ("a", token)


def test_acquire_later_after_a_server_restart_asks_again_on_a_fresh_connection(
    redis_server: Any, url: str
) -> None:
    backend = RedisBackend(url)
    assert backend.acquire_later("job", "a", 5.0)() is not None
    redis_server.restart()  # the thread's connection is stale, and the scripts are gone
    token = backend.acquire_later("job2", "b", 5.0)()
    assert token is not None
    assert backend.holder("job2") == ("b", token)


def test_acquire_later_on_a_server_that_is_down_raises_lock_backend_error(
    redis_server: Any, url: str
) -> None:
    backend = RedisBackend(url, connect_timeout=0.5)
    redis_server.kill()
    with pytest.raises(LockBackendError, match="acquire lock 'job'"):
        backend.acquire_later("job", "a", 5.0)()


@pytest.mark.parametrize("fault", ["cut_after", "cut_mid_reply", "cut_before"])
def test_acquire_later_whose_answer_is_lost_asks_again_and_holds_the_lease_once(
    redis_server: Any, fault: str
) -> None:
    with FaultProxy(redis_server.port) as proxy:
        backend = RedisBackend(f"redis://127.0.0.1:{proxy.port}/0", connect_timeout=2.0)
        getattr(proxy, fault)(b"EVALSHA")
        answer = backend.acquire_later("job", "a", 30.0)
        token = answer()  # the lost answer is asked again: the lease this owner got is adopted
        assert proxy.fired == 1
    assert token is not None
    direct = RedisBackend(redis_server.url)
    assert direct.holder("job") == ("a", token)  # one holder, the one that was told so
    assert direct.acquire("job", "b", 30.0, 0) is None
