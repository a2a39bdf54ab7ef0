"""Eager mode and apply(): a duplicate behaves as in the worker (DuplicateTask with holder_id)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from accord.contrib.celery import singleton_task
from accord.core.errors import DuplicateTask
from accord.core.lock.base import get_backend


@pytest.fixture
def app() -> Iterator[Celery]:
    celery = Celery("eager", broker="memory://", backend="cache+memory://", set_as_current=False)
    celery.conf.accord_lock_url = f"memory://{uuid.uuid4().hex}"
    yield celery
    celery.close()


def declare(app: Celery) -> Any:
    def rebuild(account_id: int) -> str:
        return "ran"

    return singleton_task(app=app, shared=False, name=f"t.{uuid.uuid4().hex}")(rebuild)


def hold(app: Celery, task: Any, owner: str) -> None:
    backend = get_backend(app.conf.accord_lock_url)
    assert backend.acquire(task.singleton_key((7,), {})[1], owner, 30.0, 0) is not None


def test_apply_of_a_duplicate_fails_with_duplicate_task_naming_the_holder(app: Celery) -> None:
    task = declare(app)
    hold(app, task, "holder-task|run|0|abcdef")
    result = task.apply((7,))
    assert result.state == "FAILURE"
    with pytest.raises(DuplicateTask) as caught:
        result.get()
    assert caught.value.holder_id == "holder-task"


def test_an_eager_duplicate_fails_with_duplicate_task_naming_the_holder(app: Celery) -> None:
    app.conf.task_always_eager = True
    task = declare(app)
    hold(app, task, "holder-task|run|0|abcdef")
    with pytest.raises(DuplicateTask) as caught:
        task.delay(7).get()
    assert caught.value.holder_id == "holder-task"


def test_an_eager_call_of_a_free_key_runs(app: Celery) -> None:
    app.conf.task_always_eager = True
    task = declare(app)
    assert task.delay(7).get() == "ran"
    assert task.delay(7).get() == "ran"  # released after the first


def test_a_renewal_in_flight_after_hand_on_cannot_shorten_the_retrys_hold(app: Celery) -> None:
    from accord.contrib.celery.lease import Lease

    backend: Any = get_backend(app.conf.accord_lock_url)
    token = backend.acquire("job", "t|run|0|aa", 5.0, 0)
    lease = Lease.adopt("job", backend=backend, owner="t|run|0|aa", token=token, ttl=5.0)
    assert lease.hand_on("t|reserved|1|bb", 30.0) > token
    assert not backend.renew("job", "t|run|0|aa", 0.01)  # the late renewal finds another owner
    assert backend.holder("job")[0] == "t|reserved|1|bb"
    assert not lease.lost
