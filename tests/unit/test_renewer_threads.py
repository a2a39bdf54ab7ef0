"""The renewer's timer, workers and notifier, without servers (the faults are in integration)."""

from __future__ import annotations

import threading
import time

import pytest

from accord.core.errors import ConfigurationError
from accord.core.lock import renewer
from accord.core.lock.backends.memory import MemoryBackend


def test_a_job_with_an_enormous_delay_does_not_stop_the_others() -> None:
    far = renewer.schedule(1e12, lambda: None)
    ran = threading.Event()
    renewer.schedule(0.05, lambda: ran.set() and None)
    assert ran.wait(2)
    far.cancel()


def test_a_job_that_raises_is_not_run_again_and_the_others_go_on() -> None:
    runs: list[int] = []

    def failing() -> float | None:
        runs.append(1)
        raise RuntimeError("boom")

    renewer.schedule(0, failing)
    ran = threading.Event()
    renewer.schedule(0.1, lambda: ran.set() and None)
    assert ran.wait(2)
    time.sleep(0.1)
    assert runs == [1]


def test_a_job_that_blocks_delays_no_other_job() -> None:
    release = threading.Event()
    renewer.schedule(0, lambda: release.wait(5) and None)
    ran = threading.Event()
    renewer.schedule(0.05, lambda: ran.set() and None)
    try:
        assert ran.wait(1)
    finally:
        release.set()


def test_cancelled_jobs_never_run() -> None:
    ran: list[int] = []
    jobs = [renewer.schedule(0.05, lambda: ran.append(1) and None) for _ in range(300)]
    for job in jobs:
        job.cancel()
    time.sleep(0.3)
    assert ran == []


def test_notices_run_in_order_off_the_caller_thread() -> None:
    seen: list[tuple[int, str]] = []
    done = threading.Event()
    for i in range(3):
        renewer.notify_soon(lambda i=i: seen.append((i, threading.current_thread().name)))
    renewer.notify_soon(done.set)
    assert done.wait(2)
    assert [i for i, _ in seen] == [0, 1, 2]
    assert all(name == "accord-lock-notices" for _, name in seen)


def test_an_upkeep_reads_lost_from_the_clock_once_its_lease_may_have_ended() -> None:
    backend = MemoryBackend("memory://renewer-unit")
    reasons: list[str] = []
    upkeep = renewer.keep_renewed(backend, "job", "owner", 0.3, on_lost=reasons.append, renew=False)
    assert upkeep.lost is None
    time.sleep(0.35)
    assert upkeep.lost == "expired"


def test_keep_renewed_refuses_a_ttl_it_cannot_keep() -> None:
    backend = MemoryBackend("memory://renewer-unit")
    with pytest.raises(ConfigurationError, match="ttl=inf"):
        renewer.keep_renewed(backend, "job", "owner", float("inf"), on_lost=print)
