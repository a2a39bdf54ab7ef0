"""Singleton task arguments may be secrets: no error, stored result or log line shows them."""

from __future__ import annotations

import json
import logging
import time

import pytest
from celery_worker import Worker, account

from accord.core.errors import AlreadyRunning, DuplicateTask, TaskKeyError

SECRET = "s3cr3t-pw"


def stored(worker: Worker, task_id: str) -> str:
    """What the result backend (Redis) holds for *task_id*, as stored."""
    raw = worker.store.get(f"celery-task-meta-{task_id}")
    assert raw is not None, f"no result stored for {task_id}"
    return raw.decode()


def assert_nowhere(text: str, where: str) -> None:
    assert SECRET not in text, f"the secret argument leaked into {where}: {text}"


def test_a_duplicate_at_enqueue_raised_never_shows_the_arguments(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    acct = account()
    task = worker.app.tasks["t.secret"]  # on_duplicate="raise"
    first = task.delay(acct, SECRET, 1.0)
    worker.wait_started(acct)
    with pytest.raises(AlreadyRunning) as caught:
        task.delay(acct, SECRET, 1.0)
    assert caught.value.holder_id == first.id
    first.get(timeout=10)
    assert_nowhere(f"{caught.value} {caught.value!r}", "the AlreadyRunning error")
    assert_nowhere(caplog.text, "the caller's logs")


def test_a_duplicate_in_the_worker_stores_no_argument_in_its_failure(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    acct = account()
    task = worker.app.tasks["t.secret_worker_only"]  # no reservation: the worker decides
    first = task.delay(acct, SECRET, 1.0)
    worker.wait_started(acct)
    second = task.delay(acct, SECRET, 1.0)
    with pytest.raises(DuplicateTask) as caught:
        second.get(timeout=10)
    first.get(timeout=10)
    assert json.loads(stored(worker, second.id))["status"] == "FAILURE"
    assert_nowhere(stored(worker, second.id), "the stored result")
    assert_nowhere(f"{caught.value} {caught.value!r}", "the DuplicateTask error")
    assert_nowhere(caplog.text, "the caller's logs")
    assert_nowhere(worker.log.read_text(errors="replace"), "the worker's log")


def test_a_bad_key_type_at_call_time_never_shows_the_value(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    task = worker.app.tasks["t.secret"]
    with pytest.raises(TaskKeyError) as caught:
        task.delay(account(), {SECRET})  # a set has no canonical form
    assert "'password'" in str(caught.value)
    assert "set" in str(caught.value)
    assert_nowhere(f"{caught.value} {caught.value!r}", "the TaskKeyError")
    assert_nowhere(caplog.text, "the caller's logs")


def test_a_call_the_worker_cannot_key_stores_no_argument_in_its_failure(worker: Worker) -> None:
    # send_task skips the caller's checks: the worker meets the bad call and stores TaskKeyError.
    result = worker.app.send_task(
        "t.secret_worker_only",
        args=[account()],
        kwargs={"password": SECRET, "pasword": SECRET},
        queue=worker.queue,
    )
    with pytest.raises(TaskKeyError) as caught:
        result.get(timeout=10)
    assert_nowhere(f"{caught.value} {caught.value!r}", "the TaskKeyError")
    assert_nowhere(stored(worker, result.id), "the stored result")
    time.sleep(0.2)  # the worker's log line of the failure
    assert_nowhere(worker.log.read_text(errors="replace"), "the worker's log")
