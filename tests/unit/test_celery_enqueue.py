"""Enqueue-time behaviour of singleton tasks, on an in-memory broker and memory:// locks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.app.task import Task

from accord.contrib.celery import current_lease, singleton_task
from accord.contrib.celery.owners import Owner
from accord.core.errors import AlreadyRunning, ConfigurationError, TaskError, TaskKeyError
from accord.core.lock.base import get_backend
from accord.core.plugins import get_plugin_manager


@pytest.fixture
def app() -> Iterator[Celery]:
    celery = Celery("unit", broker="memory://", backend="cache+memory://", set_as_current=False)
    celery.conf.accord_lock_url = f"memory://{uuid.uuid4().hex}"
    yield celery
    celery.close()


def declare(app: Celery, **options: Any) -> Any:
    def rebuild(account_id: int, month: int | None = None) -> Any:
        return current_lease().token

    return singleton_task(app=app, shared=False, name=f"t.{uuid.uuid4().hex}", **options)(rebuild)


def holder(task: Any, *args: Any) -> Any:
    return get_backend(task.app.conf.accord_lock_url).holder(task.singleton_key(args, {})[1])  # type: ignore[attr-defined]


def test_the_first_call_reserves_the_key_for_its_task_id(app: Celery) -> None:
    task = declare(app)
    result = task.delay(7)
    assert Owner.parse(holder(task, 7)[0]).task_id == result.id


def test_return_existing_returns_the_holders_async_result(app: Celery) -> None:
    task = declare(app)
    first = task.delay(7)
    assert task.delay(account_id=7, month=None).id == first.id


def test_raise_raises_already_running_naming_the_holder(app: Celery) -> None:
    task = declare(app, on_duplicate="raise")
    first = task.delay(7)
    with pytest.raises(AlreadyRunning, match=first.id) as caught:
        task.delay(7)
    assert caught.value.holder_id == first.id


def test_drop_returns_none(app: Celery) -> None:
    task = declare(app, on_duplicate="drop")
    task.delay(7)
    assert task.delay(7) is None


def test_other_keys_are_not_duplicates(app: Celery) -> None:
    task = declare(app, on_duplicate="raise")
    assert task.delay(7).id != task.delay(8).id


def test_an_unserialisable_argument_enqueues_nothing(app: Celery) -> None:
    task = declare(app)
    with pytest.raises(TaskKeyError, match="'month'"):
        task.delay(7, month=object())


def test_a_failed_send_releases_the_reservation(app: Celery, monkeypatch: Any) -> None:
    task = declare(app)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(Task, "apply_async", broken)
    with pytest.raises(ConnectionError):
        task.delay(7)
    assert holder(task, 7) is None


def test_the_reservation_lasts_reserve_seconds_after_the_countdown(app: Celery) -> None:
    task = declare(app, reserve=0.2)
    task.apply_async((7,), countdown=0.3)
    time.sleep(0.35)
    assert holder(task, 7) is not None
    time.sleep(0.3)
    assert holder(task, 7) is None


def test_reserve_none_enqueues_without_a_reservation(app: Celery) -> None:
    task = declare(app, reserve=None)
    task.delay(7)
    assert holder(task, 7) is None


def test_a_duplicate_at_enqueue_fires_the_hook(app: Celery) -> None:
    seen: list[tuple[str, str]] = []

    class Recorder:
        def accord_task_duplicate_suppressed(self, holder_id: str, stage: str) -> None:
            seen.append((holder_id, stage))

    task = declare(app, on_duplicate="drop")
    first = task.delay(7)
    get_plugin_manager().register(Recorder(), "unit-recorder")
    try:
        task.delay(7)
    finally:
        get_plugin_manager().unregister(name="unit-recorder")
    assert seen == [(first.id, "enqueue")]


def test_an_eager_run_holds_the_lease_while_it_runs_and_releases_it(app: Celery) -> None:
    app.conf.task_always_eager = True
    task = declare(app)
    assert task.delay(7).get() >= 1
    assert holder(task, 7) is None


def test_a_direct_call_runs_the_function_without_a_lease(app: Celery) -> None:
    task = declare(app)
    with pytest.raises(TaskError, match="outside the run"):
        task(7)  # current_lease() in the body: there is none


def test_no_lock_url_is_reported_naming_the_setting(app: Celery) -> None:
    app.conf.accord_lock_url = None
    task = declare(app)
    with pytest.raises(ConfigurationError, match="accord_lock_url"):
        task.delay(7)


def test_a_file_lock_url_is_refused(app: Celery, tmp_path: Any) -> None:
    task = declare(app, lock_url=f"file://{tmp_path}")
    with pytest.raises(ConfigurationError, match="OwnerAwareBackend"):
        task.delay(7)


def test_the_lock_url_comes_from_a_namespaced_django_style_setting() -> None:
    class Settings:
        CELERY_BROKER_URL = "memory://"
        CELERY_ACCORD_LOCK_URL = f"memory://{uuid.uuid4().hex}"

    celery = Celery("django-style", set_as_current=False)
    celery.config_from_object(Settings, namespace="CELERY")
    task = declare(celery)
    result = task.delay(7)
    backend = get_backend(Settings.CELERY_ACCORD_LOCK_URL)
    held = backend.holder(task.singleton_key((7,), {})[1])  # type: ignore[attr-defined]
    assert Owner.parse(held[0]).task_id == result.id


def test_a_call_takes_the_key_over_from_a_run_that_succeeded(app: Celery) -> None:
    task = declare(app)
    _, name = task.singleton_key((7,), {})
    backend = get_backend(app.conf.accord_lock_url)
    token = backend.acquire(name, "done-task|run|0|aaaaaaaaaaaa", 30.0, 0)
    app.backend.mark_as_done("done-task", 1)  # stored; its release is on its way
    result = task.delay(7)
    assert result.id != "done-task"
    held = backend.holder(name)  # type: ignore[attr-defined]
    assert Owner.parse(held[0]).task_id == result.id
    assert held[1] > token


def test_a_run_that_failed_in_the_main_process_still_holds_against_a_call(app: Celery) -> None:
    from celery.exceptions import TimeLimitExceeded

    task = declare(app)
    _, name = task.singleton_key((7,), {})
    backend = get_backend(app.conf.accord_lock_url)
    backend.acquire(name, "killed-task|run|0|aaaaaaaaaaaa", 30.0, 0)
    app.backend.mark_as_failure("killed-task", TimeLimitExceeded(1))  # the child may still run
    assert task.delay(7).id == "killed-task"
