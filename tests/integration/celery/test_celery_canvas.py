"""Canvas members and retries of singleton tasks resolve: no caller waits for ever."""

from __future__ import annotations

import time

import pytest
from celery import chord, group
from celery_worker import Worker, account

from accord.core.errors import DuplicateTask


def test_a_group_member_whose_key_is_held_resolves_to_duplicate_task(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    first = task.delay(acct, 1.0)
    worker.wait_started(acct)
    [member] = group(task.s(acct, 1.0)).apply_async().results
    with pytest.raises(DuplicateTask) as caught:
        member.get(timeout=15)
    assert caught.value.holder_id == first.id
    first.get(timeout=15)
    assert [run["id"] for run in worker.runs(acct)] == [first.id]


def test_a_group_with_two_members_of_one_key_runs_one_and_resolves_both(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    result = group(task.s(acct, 0.5), task.s(acct, 0.5)).apply_async()
    outcomes = result.join(timeout=15, propagate=False)
    ran = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, DuplicateTask)]
    assert len(ran) == 1
    assert len(refused) == 1
    assert refused[0].holder_id == ran[0]["id"]
    assert len(worker.runs(acct)) == 1


def test_a_chord_with_a_duplicate_member_finishes(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    collect = worker.app.tasks["t.collect"]
    result = chord([task.s(acct, 0.3), task.s(acct, 0.3)], collect.s()).apply_async()
    deadline = time.monotonic() + 20
    while not result.ready():  # the callback's own result: FAILURE, as a member failed
        assert time.monotonic() < deadline, "the chord never finished"
        time.sleep(0.1)
    assert result.state == "FAILURE"
    assert "DuplicateTask" in repr(result.result)
    assert len(worker.runs(acct)) == 1


def test_a_retry_after_a_lost_lease_runs_or_ends_as_duplicate_task(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.lost_then_retry"]  # lease 0.6 s; retries once after 2 s
    first = task.delay(acct, 2.0, True)
    worker.wait_started(acct)
    _, name = task.singleton_key((acct, 2.0, True), {})
    backend = task.lock_backend()
    held = backend.holder(name)
    assert held is not None
    assert backend.release(name, held[0])  # the first run's lease is lost (as if it expired)
    other = task.delay(acct, 4.0, False)  # takes the key and holds it past the retry
    assert other.id != first.id
    with pytest.raises(DuplicateTask) as caught:  # the retry came while the other held the key
        first.get(timeout=15)
    assert caught.value.holder_id == other.id
    assert first.state == "FAILURE"
    other.get(timeout=15)
