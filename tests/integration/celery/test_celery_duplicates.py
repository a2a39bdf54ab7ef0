"""Duplicates of a singleton task, with a real broker, a real prefork worker and real locks."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from celery_worker import Worker, account

from accord.contrib.celery.owners import Owner
from accord.core.errors import AlreadyRunning, DuplicateTask
from accord.core.plugins import get_plugin_manager


def test_positional_and_keyword_calls_run_once(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    first = task.apply_async((acct, 0.8))
    worker.wait_started(acct)
    second = task.apply_async(kwargs={"account": acct, "sleep": 0.8})
    third = task.delay(acct, sleep=0.8)
    assert second.id == first.id == third.id
    assert first.get(timeout=10)["id"] == first.id
    assert len(worker.runs(acct)) == 1


def test_a_duplicate_stopped_at_enqueue_sends_no_message(worker: Worker) -> None:
    # The reservation's answer is read while Celery builds the message: a held
    # key must stop the publication itself, not only change what the caller gets.
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    first = task.apply_async((acct, 0.8))
    worker.wait_started(acct)
    duplicates = [task.apply_async((acct, 0.8)) for _ in range(3)]
    assert {d.id for d in duplicates} == {first.id}
    first.get(timeout=10)
    time.sleep(0.5)  # a message sent all the same would have been taken up by now
    assert worker.deliveries(acct) == [first.id]


def test_a_queued_duplicate_is_stopped_at_enqueue_or_in_the_worker(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    first = task.apply_async((acct, 0.8))
    second = task.apply_async(kwargs={"account": acct, "sleep": 0.8})  # first may not run yet
    assert first.get(timeout=10)["id"] == first.id
    if worker.reserves:  # the reservation stopped it
        assert second.id == first.id
    elif second.id != first.id:  # the worker stopped it
        with pytest.raises(DuplicateTask) as caught:
            second.get(timeout=10)
        assert caught.value.holder_id == first.id
    assert [run["id"] for run in worker.runs(acct)] == [first.id]


def test_default_values_are_part_of_the_key(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    first = task.delay(acct)  # sleep defaults to 0.5
    worker.wait_started(acct)
    assert task.delay(acct, 0.5).id == first.id
    first.get(timeout=10)


def test_return_existing_gives_the_caller_the_holders_result(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    first = task.delay(acct, 0.5)
    worker.wait_started(acct)
    duplicate = task.delay(acct, 0.5)
    assert duplicate.id == first.id
    assert duplicate.get(timeout=10) == first.get(timeout=10)


def test_raise_gives_the_caller_already_running_with_the_holder_id(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_raise"]
    first = task.delay(acct, 0.5)
    worker.wait_started(acct)
    with pytest.raises(AlreadyRunning) as caught:
        task.delay(acct, 0.5)
    assert caught.value.holder_id == first.id
    first.get(timeout=10)
    assert len(worker.runs(acct)) == 1


def test_drop_gives_the_caller_none(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_drop"]
    first = task.delay(acct, 0.5)
    worker.wait_started(acct)
    assert task.delay(acct, 0.5) is None
    first.get(timeout=10)
    assert len(worker.runs(acct)) == 1


def test_the_key_is_free_again_after_the_run(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_raise"]
    task.delay(acct, 0.1).get(timeout=10)
    task.delay(acct, 0.1).get(timeout=10)
    assert len(worker.runs(acct)) == 2


def test_send_task_twice_runs_once_and_the_second_fails_as_duplicate(worker: Worker) -> None:
    acct = account()
    first = worker.app.send_task("t.rebuild_return_existing", (acct, 1.0), queue=worker.queue)
    worker.wait_started(acct)
    second = worker.app.send_task("t.rebuild_return_existing", (acct, 1.0), queue=worker.queue)
    with pytest.raises(DuplicateTask) as caught:
        second.get(timeout=10)
    assert caught.value.holder_id == first.id
    assert second.state == "FAILURE"
    assert first.get(timeout=10)["id"] == first.id
    assert [run["id"] for run in worker.runs(acct)] == [first.id]


def test_a_duplicate_in_the_worker_fires_the_observer_hook(worker: Worker) -> None:
    acct = account()
    first = worker.app.send_task("t.rebuild_drop", (acct, 1.0), queue=worker.queue)
    worker.wait_started(acct)
    second = worker.app.send_task("t.rebuild_drop", (acct, 1.0), queue=worker.queue)
    with pytest.raises(DuplicateTask):
        second.get(timeout=10)
    [event] = worker.hooks(acct)
    assert event["stage"] == "worker"
    assert event["holder_id"] == first.id
    assert event["task_name"] == "t.rebuild_drop"
    first.get(timeout=10)


def test_a_duplicate_at_enqueue_fires_the_observer_hook(worker: Worker) -> None:
    seen: list[dict[str, Any]] = []

    class Recorder:
        def accord_task_duplicate_suppressed(
            self, task_name: str, key: str, holder_id: str, stage: str
        ) -> None:
            seen.append(
                {"task_name": task_name, "key": key, "holder_id": holder_id, "stage": stage}
            )

    get_plugin_manager().register(Recorder(), "test-enqueue-recorder")
    try:
        acct = account()
        task = worker.app.tasks["t.rebuild_drop"]
        first = task.delay(acct, 0.3)
        worker.wait_started(acct)
        assert task.delay(acct, 0.3) is None
    finally:
        get_plugin_manager().unregister(name="test-enqueue-recorder")
    assert seen == [
        {
            "task_name": "t.rebuild_drop",
            "key": f't.rebuild_drop:{{"account":"{acct}","sleep":0.3}}',
            "holder_id": first.id,
            "stage": "enqueue",
        }
    ]
    first.get(timeout=10)


def test_without_reservation_the_worker_alone_stops_the_duplicate(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.worker_only"]
    calls = [task.delay(acct, 1.0), task.delay(acct, 1.0)]  # both run at once: one wins
    assert calls[0].id != calls[1].id
    [run] = worker.wait_started(acct)
    winner, loser = sorted(calls, key=lambda call: call.id != run["id"])
    assert winner.get(timeout=10)["id"] == winner.id
    with pytest.raises(DuplicateTask) as caught:
        loser.get(timeout=10)
    assert caught.value.holder_id == winner.id
    assert len(worker.runs(acct)) == 1


def test_the_base_class_form_takes_the_same_options(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.by_base"]
    first = task.delay(acct, note="a")
    worker.wait_started(acct)
    assert task.delay(acct, note="b").id == first.id  # key=["account"]: note is not in it
    first.get(timeout=10)


def test_the_run_takes_the_reservation_over_with_a_greater_token(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    result = task.delay(acct, 0.2)
    _, name = task.singleton_key((acct, 0.2), {})
    held = task.lock_backend().holder(name)  # read before or after the worker takes it over
    assert held is not None
    holder, run = Owner.parse(held[0]), result.get(timeout=10)
    assert holder.task_id == result.id
    if holder.kind == "reserved":
        assert held[1] < run["token"]
    else:
        assert held[1] == run["token"]


def test_the_holder_is_the_running_task_with_its_fencing_token(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    result = task.delay(acct, 0.5)
    worker.wait_started(acct)
    _, name = task.singleton_key((acct, 0.5), {})
    held = task.lock_backend().holder(name)
    assert held is not None
    assert (Owner.parse(held[0]).task_id, Owner.parse(held[0]).kind) == (result.id, "run")
    assert held[1] == result.get(timeout=10)["token"]


def test_fencing_tokens_increase_from_run_to_run(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]
    tokens = [task.delay(acct, 0.0).get(timeout=10)["token"] for _ in range(3)]
    assert tokens == sorted(set(tokens))


def test_two_hundred_concurrent_calls_of_five_keys_never_overlap(worker: Worker) -> None:
    accounts = [account() for _ in range(5)]
    task = worker.app.tasks["t.rebuild_return_existing"]

    def submit(i: int) -> tuple[str, Any]:
        acct = accounts[i % 5]
        return acct, (task.delay(acct, 0.2) if i % 2 else task.delay(account=acct, sleep=0.2))

    with ThreadPoolExecutor(16) as pool:
        calls = list(pool.map(submit, range(200)))
    deadline = time.monotonic() + 60
    got: dict[str, set[str]] = defaultdict(set)
    for acct, result in calls:
        try:
            got[acct].add(result.get(timeout=max(deadline - time.monotonic(), 1))["id"])
        except DuplicateTask as duplicate:  # stopped in the worker: the holder ran instead
            got[acct].add(str(duplicate.holder_id))
    for acct in accounts:
        runs = sorted(worker.runs(acct), key=lambda run: run["start"])
        assert runs, f"no run of {acct}"
        assert {run["id"] for run in runs} >= got[acct]
        for before, after in itertools.pairwise(runs):
            assert after["start"] >= before["end"], json.dumps(runs)
