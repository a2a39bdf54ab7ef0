"""A Redis waiter paused while the lock is handed to it must not take a lease that ran out.

Found by the campaign (tests/integration/test_campaign.py, a paused client):
the release hands the lock to a waiter blocked in ``BLPOP``; the server answers
into the socket of a process that is frozen; the lease runs out and another
client takes the lock; the waiter wakes with the old hand-over and believed it
held the lock while the other did.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from accord.core.lock import Lock
from accord.core.lock.backends.redis import holder_key
from accord.testing.process import pause_process, resume_process

pytest.importorskip("redis")

WAITER = """
import sys, time
from accord.core.lock import Lock
lock = Lock("job", sys.argv[1], ttl=1.0)
assert lock.acquire(timeout=60)
print("ACQUIRED", time.monotonic(), flush=True)
lock.release()
"""


def _handed_to_frozen_waiter(url: str, client: Any) -> tuple[subprocess.Popen[str], Lock] | None:
    """Hand the lock to a waiter frozen in BLPOP: (waiter, old holder), or None if it missed."""
    holder = Lock("job", url, ttl=1.0)
    holder.acquire()
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER, url], stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    while not client.zcard(holder_key("job") + ":queue"):
        assert time.monotonic() < deadline, "the waiter never queued"
        time.sleep(0.01)
    time.sleep(0.05)  # into its BLPOP
    pause_process(waiter.pid)
    holder.release()  # hands the lock to the frozen waiter
    owner = client.get(holder_key("job"))
    woken = not client.exists(holder_key("job") + ":wake:" + (owner or b"").decode())
    if owner is not None and woken:  # the server answered the frozen waiter's BLPOP
        return waiter, holder
    resume_process(waiter.pid)
    waiter.kill()
    waiter.communicate()
    client.flushall()
    return None


def test_a_waiter_frozen_through_its_hand_over_does_not_take_an_expired_lease(
    redis_server: Any,
) -> None:
    import redis

    url = redis_server.url
    client = redis.Redis.from_url(url)
    for _ in range(20):
        found = _handed_to_frozen_waiter(url, client)
        if found is not None:
            break
    else:
        pytest.fail("the hand-over never reached a waiter blocked in BLPOP")
    waiter, _ = found
    try:
        time.sleep(1.5)  # the handed lease (ttl 1 s) runs out while the waiter is frozen
        other = Lock("job", url, ttl=10.0)
        assert other.acquire(timeout=3)
    finally:
        resume_process(waiter.pid)
    time.sleep(1.0)  # the waiter wakes with the old hand-over
    released_at = time.monotonic()
    other.release()
    out, _ = waiter.communicate(timeout=30)
    acquired_at = float(out.split()[1])
    assert acquired_at > released_at, "the waiter held the lock while another client did"
