"""The shared lease upkeep under faults: huge ttls, a paused server, slow callbacks (real Redis).

Holes 1 and 7 of issue 11: one lock must never stop or delay the renewal of another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accord.core.errors import ConfigurationError
from accord.core.lock import Lock, base, get_backend, renewer
from accord.testing import RedisServer


@pytest.fixture(autouse=True)
def fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


def still_held_after(lock: Lock, seconds: float, url: str) -> bool:
    """Hold *lock* for *seconds* while a rival keeps trying; True if the rival never got it."""
    rival = Lock(lock.name, url, ttl=5)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if rival.acquire(timeout=0.1):
            rival.release()
            return False
    return not lock.lost


def test_an_upkeep_with_an_enormous_interval_does_not_stop_other_renewals(
    redis_server: RedisServer,
) -> None:
    # A Celery lease of 1e11 s (or ttl=inf before it was refused) used to make
    # the renewer thread's Condition.wait raise OverflowError and die.
    memory = get_backend("memory://renewer-huge")
    assert memory.acquire("huge", "owner", 1e11, 0) is not None
    job = renewer.keep_renewed(memory, "huge", "owner", 1e11, on_lost=lambda reason: None)
    url = f"{redis_server.url}/0"
    try:
        with Lock("job", url, ttl=0.6) as lock:
            assert still_held_after(lock, 2.0, url)
    finally:
        job.cancel()


def test_an_infinite_ttl_is_refused_before_anything_is_taken(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"ttl=inf.*finite"):
        Lock("job", f"file://{tmp_path}", ttl=float("inf"))


def test_a_renewal_stuck_on_a_paused_server_does_not_delay_another_servers(
    redis_nodes: Callable[..., list[RedisServer]],
) -> None:
    stuck, healthy = redis_nodes(2)
    stuck_url, healthy_url = f"{stuck.url}/0", f"{healthy.url}/0"
    reasons: list[str] = []
    doomed = Lock(
        "a",
        stuck_url,
        ttl=1.5,
        on_lost=lambda _l, r: reasons.append(r),
        options={"socket_timeout": 3},
    )
    doomed.acquire()
    kept = Lock("b", healthy_url, ttl=1.0)
    kept.acquire()
    stuck.pause()
    try:
        assert still_held_after(kept, 3.0, healthy_url)
        kept.release()
        # The paused server's lock is reported lost once its lease may have ended.
        assert doomed.lost
        assert reasons
        assert reasons[0]
    finally:
        stuck.resume()


def test_an_on_lost_callback_that_blocks_does_not_delay_renewals(redis_server: RedisServer) -> None:
    url = f"{redis_server.url}/0"
    release = threading.Event()
    entered = threading.Event()

    def blocking(lock: Any, reason: str) -> None:
        entered.set()
        release.wait(10)

    victim = Lock("victim", url, ttl=0.6, on_lost=blocking)
    victim.acquire()
    redis_server.execute("DEL", "accord:lock:{victim}")  # its lease ends: the callback blocks
    try:
        with Lock("job", url, ttl=0.6) as lock:
            assert entered.wait(2)
            assert still_held_after(lock, 2.0, url)
    finally:
        release.set()


def test_a_loss_is_noticed_by_ensure_held_even_while_callbacks_are_busy(
    redis_server: RedisServer,
) -> None:
    url = f"{redis_server.url}/0"
    release = threading.Event()
    first = Lock("first", url, ttl=0.6, on_lost=lambda _l, _r: release.wait(10))
    second = Lock("second", url, ttl=0.6)
    first.acquire()
    second.acquire()
    try:
        redis_server.execute("DEL", "accord:lock:{first}")
        time.sleep(0.4)
        redis_server.execute("DEL", "accord:lock:{second}")
        deadline = time.monotonic() + 0.6 / 3 + 0.5
        while not second.lost and time.monotonic() < deadline:
            time.sleep(0.02)
        assert second.lost
    finally:
        release.set()
