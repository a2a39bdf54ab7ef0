"""Crashes, retries, revokes, time limits and long runs of singleton tasks, on a real worker."""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest
from billiard.exceptions import WorkerLostError
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery_worker import Worker, account

from accord.core.errors import AlreadyRunning, DuplicateTask
from accord.testing.brokers import delete_queue


def test_retry_with_countdown_completes_under_the_same_lease(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.flaky"]
    first = task.delay(acct, fails=1)
    worker.wait_started(acct)
    assert task.delay(acct, fails=1).id == first.id  # held across the retry's countdown
    run = first.get(timeout=15)
    assert run["retries"] == 1
    assert [(r["id"], r["retries"]) for r in worker.runs(acct)] == [(first.id, 0), (first.id, 1)]
    assert first.state == "SUCCESS"


def test_each_retry_takes_the_lease_over_with_a_greater_token(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.flaky"]
    task.delay(acct, fails=2).get(timeout=15)
    tokens = [run["token"] for run in worker.runs(acct)]
    assert len(tokens) == 3
    assert tokens == sorted(set(tokens))


def test_exhausted_retries_release_the_key(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.flaky"]
    first = task.apply_async((acct,), {"fails": 9}, max_retries=1)
    with pytest.raises(Exception) as caught:
        first.get(timeout=15)
    assert not isinstance(caught.value, DuplicateTask)
    second = task.delay(acct, fails=9)
    assert second.id != first.id


def test_a_killed_worker_child_frees_the_key_for_the_next_call(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.killable"]
    first = task.delay(acct)
    [started] = worker.wait_started(acct)
    os.kill(started["pid"], signal.SIGKILL)
    with pytest.raises(WorkerLostError):
        first.get(timeout=10)
    deadline = time.monotonic() + 2.0 + 5  # the lease, and time for the worker to notice
    while (second := task.delay(acct, 0.1)).id == first.id:
        assert time.monotonic() < deadline, "the killed task's key was never freed"
        time.sleep(0.2)
    assert second.get(timeout=10)["id"] == second.id


def test_revoke_before_the_run_frees_the_key(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_raise"]
    first = task.apply_async((acct, 0.1), countdown=1)
    first.revoke()
    deadline = time.monotonic() + 10
    while True:
        try:
            second = task.delay(acct, 0.1)
            break
        except AlreadyRunning:
            assert time.monotonic() < deadline, "the revoked task's reservation was never freed"
            time.sleep(0.2)
    assert second.get(timeout=10)["id"] == second.id
    assert [run["id"] for run in worker.runs(acct)] == [second.id]


def test_revoke_with_terminate_frees_the_key_of_a_running_task(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.killable"]
    first = task.delay(acct)
    worker.wait_started(acct)
    first.revoke(terminate=True, signal="SIGKILL")
    deadline = time.monotonic() + 10
    while (second := task.delay(acct, 0.1)).id == first.id:
        assert time.monotonic() < deadline, "the terminated task's key was never freed"
        time.sleep(0.2)
    assert second.get(timeout=10)["id"] == second.id


def test_a_hard_time_limit_frees_the_key_before_the_lease_ends(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.hard_limited"]  # time_limit=1, lease=30
    first = task.delay(acct)
    with pytest.raises(TimeLimitExceeded):
        first.get(timeout=10)
    deadline = time.monotonic() + 5
    while (second := task.delay(acct, 0.1)).id == first.id:
        assert time.monotonic() < deadline, "the timed-out task's key was not freed"
        time.sleep(0.2)
    assert second.get(timeout=10)["id"] == second.id


def test_a_soft_time_limit_frees_the_key_when_the_body_leaves(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.soft_limited"]  # soft_time_limit=0.5, lease=30
    first = task.delay(acct)
    with pytest.raises(SoftTimeLimitExceeded):
        first.get(timeout=10)
    second = task.delay(acct, 0.1)  # at once: not after the 30 s lease
    assert second.id != first.id
    assert second.get(timeout=10)["id"] == second.id


def test_a_run_five_times_longer_than_its_lease_is_never_doubled(worker: Worker) -> None:
    acct = account()
    first = worker.app.send_task("t.long_run", (acct, 3.0), queue=worker.queue)  # lease 0.6 s
    worker.wait_started(acct)
    duplicates = []
    for _ in range(4):
        time.sleep(0.6)
        duplicates.append(worker.app.send_task("t.long_run", (acct, 3.0), queue=worker.queue))
    run = first.get(timeout=15)  # ensure_held() never raised: the lease was renewed
    stopped = 0
    for duplicate in duplicates:
        try:
            late = duplicate.get(timeout=15)  # it reached a worker after the first ended
        except DuplicateTask:
            stopped += 1
        else:
            assert late["start"] >= run["end"]
    assert stopped >= 1
    assert [r["id"] for r in worker.started(acct)][:1] == [first.id]


def test_max_lease_ends_the_lease_and_the_task_can_tell(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.capped"]  # lease 0.6, max_lease 1.0, runs 2 s
    assert task.delay(acct).get(timeout=10) == "lost"


def test_a_body_releasing_its_lease_after_its_loss_gets_not_owned_as_with_a_lock(
    worker: Worker,
) -> None:
    acct = account()
    task = worker.app.tasks["t.release_after_loss"]  # ttl 0.6, max_lease 1.0, releases at 2 s
    result = task.delay(acct)
    assert result.get(timeout=10) == "NotOwned"
    assert result.state == "SUCCESS"  # the worker's own release at the end does not fail it


def test_revoke_of_a_scheduled_task_frees_its_key_at_once(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_raise"]
    first = task.apply_async((acct, 0.1), countdown=60)
    time.sleep(1.5)  # the worker holds the scheduled message
    first.revoke()
    deadline = time.monotonic() + 5  # not 60 s + reserve
    while True:
        try:
            second = task.delay(acct, 0.1)
            break
        except AlreadyRunning:
            assert time.monotonic() < deadline, "the revoked task kept its key until its eta"
            time.sleep(0.1)
    assert second.get(timeout=10)["id"] == second.id
    assert [run["id"] for run in worker.runs(acct)] == [second.id]


def test_a_terminated_child_that_survives_the_signal_keeps_the_key(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.stubborn"]  # ignores SIGTERM, runs 3 s
    first = task.delay(acct, 3.0)
    worker.wait_started(acct)
    first.revoke(terminate=True)  # SIGTERM: the child goes on running
    calls = []
    for _ in range(10):
        calls.append(task.delay(acct, 0.1))
        time.sleep(0.2)
    time.sleep(4.0)
    runs = sorted(worker.runs(acct), key=lambda run: run["start"])
    assert runs[0]["id"] == first.id
    for before, after in itertools.pairwise(runs):
        assert after["start"] >= before["end"], runs
    for call in calls:
        if call.id != first.id:
            call.get(timeout=10)


def test_revoke_call_frees_the_key_of_a_message_no_worker_has_taken(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_raise"]
    parked = f"{worker.queue}-parked"  # a queue no worker reads: only the caller can act
    first = task.apply_async((acct, 0.1), countdown=60, queue=parked)
    try:
        with pytest.raises(AlreadyRunning):
            task.delay(acct, 0.1)
        assert task.revoke_call(first, (acct, 0.1))
        second = task.delay(acct, 0.1)  # at once, not after 60 s + reserve
    finally:
        delete_queue(worker.broker, parked)
    assert second.get(timeout=10)["id"] == second.id
    assert [run["id"] for run in worker.runs(acct)] == [second.id]


def test_revoke_call_with_another_task_id_leaves_the_key_reserved(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_raise"]
    parked = f"{worker.queue}-parked"
    first = task.apply_async((acct, 0.1), countdown=60, queue=parked)
    try:
        assert not task.revoke_call(f"not-{first.id}", (acct, 0.1))
        with pytest.raises(AlreadyRunning, match=first.id):  # (no `as`: no frame cycle)
            task.delay(acct, 0.1)
        assert task.revoke_call(first, (acct, 0.1))
    finally:
        delete_queue(worker.broker, parked)


def test_revoke_call_never_frees_the_key_of_a_run_that_started(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_raise"]
    first = task.delay(acct, 1.0)
    worker.wait_started(acct)
    assert not task.revoke_call(first, (acct, 1.0))  # revoke without terminate: it runs on
    with pytest.raises(AlreadyRunning, match=first.id):
        task.delay(acct, 1.0)
    deadline = time.monotonic() + 10
    while not worker.runs(acct):
        assert time.monotonic() < deadline, "the run never finished"
        time.sleep(0.05)
    assert [run["id"] for run in worker.runs(acct)] == [first.id]
