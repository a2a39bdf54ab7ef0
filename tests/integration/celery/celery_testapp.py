"""The Celery app of the singleton-task tests: the same tasks in the worker and in the tests.

The worker imports it with ``celery -A celery_testapp worker``; its settings
come from the environment (``ACCORD_TEST_*``, set by the fixture that starts
it). The tests call :func:`make_app` with the same settings.

Every task records its runs in Redis (the result backend's server): a list
``runs:<account>`` of JSON objects with the task id, start and end times,
pid and fencing token, so a test can count runs and check they never overlap.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from accord.contrib.celery import SingletonTask, current_lease, singleton_task
from accord.core.errors import LockLost, NotOwned
from accord.testing.history import FencedStore, History

QUEUE_ENV = "ACCORD_TEST_QUEUE"
#: A directory for the run log and the fenced store (see :func:`record`).
HISTORY_ENV = "ACCORD_TEST_HISTORY"


def _store(app: Celery) -> Any:
    return redis.Redis.from_url(app.conf.result_backend)


def _witnesses() -> tuple[History, FencedStore] | None:
    """The run log and the fenced store every run of the worker writes to (if the test set one)."""
    where = os.environ.get(HISTORY_ENV)
    if not where:
        return None
    return History(Path(where) / "runs.jsonl"), FencedStore(Path(where) / "store.jsonl")


def record(app: Celery, task: Any, account: str, **extra: Any) -> dict[str, Any]:
    """Push a run of *task* for *account* (its start) and return the entry to finish."""
    entry = {
        "id": task.request.id,
        "start": time.time(),
        "pid": os.getpid(),
        "token": task.request.singleton_token,
        "retries": task.request.retries,
        **extra,
    }
    entry["client"] = f"{entry['id']}/{entry['pid']}/{entry['start']}"
    entry["key"] = f"{task.name}:{account}"
    witnesses = _witnesses()
    if witnesses is not None:
        history, store = witnesses
        history.record("run-started", entry["client"], key=entry["key"], task_id=entry["id"],
                       token=entry["token"])  # fmt: skip
        store.write(entry["key"], entry["token"], entry["client"])
    _store(app).rpush(f"started:{account}", json.dumps(entry))
    return entry


def finish(
    app: Celery, account: str, entry: dict[str, Any], outcome: str = "success"
) -> dict[str, Any]:
    """Push the end of the run *entry*; *outcome* ``"success"``: its task then succeeds."""
    witnesses = _witnesses()
    if witnesses is not None:
        history, store = witnesses
        store.write(entry["key"], entry["token"], entry["client"])
        history.record("run-finished", entry["client"], key=entry["key"], task_id=entry["id"],
                       outcome=outcome)  # fmt: skip
    entry["end"] = time.time()
    _store(app).rpush(f"runs:{account}", json.dumps(entry))
    return entry


def make_app(
    broker: str, results: str, lock_url: str, queue: str, visibility_timeout: float | None = None
) -> Celery:
    """A Celery app with the test tasks, on *broker*, results in *results*, locks at *lock_url*.

    *visibility_timeout* (Redis broker): redeliver an unacknowledged message
    after this many seconds, looking every second (Celery's default: an hour).
    """
    app = Celery("accord_celery_tests", broker=broker, backend=results, set_as_current=False)
    if visibility_timeout is not None:
        app.conf.broker_transport_options = {
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        accord_lock_url=lock_url,
        # A ZooKeeper lease is its session: make a dead worker's session end soon.
        accord_lock_options={"session_timeout": 2.0} if lock_url.startswith("zoo") else {},
        task_default_queue=queue,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        result_expires=600,
        worker_hijack_root_logger=False,
    )

    @app.task(name="t.ping", shared=False)
    def ping() -> str:
        return "pong"

    @app.task(name="t.plain", shared=False)
    def plain(account: str, sleep: float = 0.0) -> int:
        time.sleep(sleep)
        return os.getpid()

    def body(self: Any, account: str, sleep: float) -> dict[str, Any]:
        entry = record(app, self, account)
        time.sleep(sleep)
        return finish(app, account, entry)

    for on_duplicate in ("return_existing", "raise", "drop"):
        singleton_task(
            app=app,
            shared=False,
            bind=True,
            name=f"t.rebuild_{on_duplicate}",
            on_duplicate=on_duplicate,
        )(_named(body, f"rebuild_{on_duplicate}"))

    @singleton_task(app=app, shared=False, bind=True, name="t.worker_only", reserve=None)
    def worker_only(self: Any, account: str, sleep: float = 0.5) -> dict[str, Any]:
        return body(self, account, sleep)

    @singleton_task(app=app, shared=False, bind=True, name="t.killable", ttl=2.0, key=["account"])
    def killable(self: Any, account: str, sleep: float = 60.0) -> dict[str, Any]:
        return body(self, account, sleep)

    @singleton_task(
        app=app, shared=False, bind=True, name="t.acks_late", acks_late=True, ttl=2.0,
        key=["account"],
    )  # fmt: skip
    def acks_late(self: Any, account: str, sleep: float = 6.0) -> dict[str, Any]:
        return body(self, account, sleep)

    @singleton_task(
        app=app, shared=False, bind=True, name="t.lost_then_retry", ttl=0.6,
        key=["account"], max_retries=1,
    )  # fmt: skip
    def lost_then_retry(self: Any, account: str, hold: float, retry: bool) -> dict[str, Any]:
        entry = record(app, self, account)
        time.sleep(hold)  # the test takes the lease away meanwhile
        if retry and self.request.retries == 0:
            raise self.retry(countdown=0.5)
        return finish(app, account, entry)

    @singleton_task(app=app, shared=False, bind=True, name="t.stubborn", ttl=2.0, key=["account"])
    def stubborn(self: Any, account: str, sleep: float = 3.0) -> dict[str, Any]:
        import signal

        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # revoke(terminate=True) fails
        try:
            return body(self, account, sleep)
        finally:
            signal.signal(signal.SIGTERM, previous)

    @singleton_task(
        app=app, shared=False, bind=True, name="t.soft_limited", soft_time_limit=0.5,
        ttl=30.0, key=["account"],
    )  # fmt: skip
    def soft_limited(self: Any, account: str, sleep: float = 5.0) -> dict[str, Any]:
        return body(self, account, sleep)  # SoftTimeLimitExceeded in the sleep

    @app.task(name="t.collect", shared=False)
    def collect(results: list[Any]) -> int:
        return len(results)

    @singleton_task(app=app, shared=False, bind=True, name="t.flaky", max_retries=3)
    def flaky(self: Any, account: str, fails: int = 1) -> dict[str, Any]:
        retrying = self.request.retries < fails
        entry = finish(app, account, record(app, self, account), "retry" if retrying else "success")
        if retrying:
            raise self.retry(countdown=1)
        return entry

    @singleton_task(app=app, shared=False, name="t.long_run", ttl=0.6, reserve=None)
    def long_run(account: str, seconds: float = 3.0) -> dict[str, Any]:
        from celery import current_task

        entry = record(app, current_task, account)
        lease = current_lease()
        deadline = time.time() + seconds
        while time.time() < deadline:
            lease.ensure_held()  # raises LockLost if another copy could be running
            time.sleep(0.1)
        return finish(app, account, entry)

    @singleton_task(app=app, shared=False, bind=True, name="t.capped", ttl=0.6, max_lease=1.0)
    def capped(self: Any, account: str) -> str:
        record(app, self, account)
        time.sleep(2.0)
        try:
            self.singleton.ensure_held()
        except LockLost:
            return "lost"
        return "held"

    @singleton_task(
        app=app, shared=False, bind=True, name="t.release_after_loss", ttl=0.6, max_lease=1.0,
    )  # fmt: skip
    def release_after_loss(self: Any, account: str) -> str:
        record(app, self, account)
        time.sleep(2.0)  # max_lease ends the lease meanwhile
        try:
            current_lease().release()
        except NotOwned:
            return "NotOwned"
        return "released"

    # Tasks whose arguments hold a secret: no message accord makes may show it.
    @singleton_task(app=app, shared=False, bind=True, name="t.secret", on_duplicate="raise")
    def secret(self: Any, account: str, password: str, sleep: float = 0.5) -> dict[str, Any]:
        return body(self, account, sleep)

    @singleton_task(app=app, shared=False, bind=True, name="t.secret_worker_only", reserve=None)
    def secret_worker_only(
        self: Any, account: str, password: str, sleep: float = 0.5
    ) -> dict[str, Any]:
        return body(self, account, sleep)

    @singleton_task(
        app=app,
        shared=False,
        bind=True,
        name="t.hard_limited",
        time_limit=1,
        ttl=30.0,
        key=["account"],
    )
    def hard_limited(self: Any, account: str, sleep: float = 10.0) -> dict[str, Any]:
        return body(self, account, sleep)

    @app.task(
        base=SingletonTask,
        shared=False,
        bind=True,
        name="t.by_base",
        singleton={"key": ["account"]},
    )
    def by_base(self: Any, account: str, note: str = "") -> dict[str, Any]:
        return body(self, account, 0.5)

    return app


def _named(function: Any, name: str) -> Any:
    def run(self: Any, account: str, sleep: float = 0.5) -> dict[str, Any]:
        return function(self, account, sleep)  # type: ignore[no-any-return]

    run.__name__ = run.__qualname__ = name
    return run


class HookRecorder:
    """An accord plugin that pushes each suppressed duplicate to ``hooks:<account>``."""

    def __init__(self, results: str) -> None:
        self.store = redis.Redis.from_url(results)

    def accord_task_duplicate_suppressed(
        self, task_name: str, key: str, holder_id: str, stage: str
    ) -> None:
        account = json.loads(key.partition(":")[2]).get("account", "")
        event = {"task_name": task_name, "key": key, "holder_id": holder_id, "stage": stage}
        self.store.rpush(f"hooks:{account}", json.dumps(event))

    def accord_lock_lost(self, name: str, reason: str) -> None:
        self.store.rpush("lost", json.dumps({"name": name, "reason": reason}))


def _count_delivery(sender: Any = None, task_id: str = "", args: Any = (), **_: Any) -> None:
    """Push every delivery a pool process takes up (run or not) to ``deliveries:<account>``."""
    account = (args or [None])[0]
    if isinstance(account, str) and app is not None:
        _store(app).rpush(f"deliveries:{account}", task_id)


def _from_env() -> Celery | None:
    broker = os.environ.get("ACCORD_TEST_BROKER")
    if not broker:
        return None
    from accord.core.plugins import get_plugin_manager

    get_plugin_manager().register(HookRecorder(os.environ["ACCORD_TEST_RESULTS"]), "recorder")
    return make_app(
        broker,
        os.environ["ACCORD_TEST_RESULTS"],
        os.environ["ACCORD_TEST_LOCK_URL"],
        os.environ[QUEUE_ENV],
        float(os.environ["ACCORD_TEST_VISIBILITY"])
        if "ACCORD_TEST_VISIBILITY" in os.environ
        else None,
    )


app = _from_env()
if app is not None:
    from celery import signals

    signals.task_prerun.connect(_count_delivery, weak=False)
