"""Two deliveries of one task id (a broker redelivery, a task id sent twice) run the body once.

The broker here redelivers an unacknowledged ``acks_late`` message after a
3 s ``visibility_timeout`` (Redis broker), while its first delivery still
runs: the same trigger as RabbitMQ's ``consumer_timeout`` and as ETA tasks
held past the visibility timeout. Both deliveries carry the same task id.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery_worker import Worker, account

from accord.core.lock.base import clear_backend_cache
from accord.testing.faults import FaultProxy
from accord.testing.servers import ZooKeeperServer

VISIBILITY = 3.0


@pytest.fixture(scope="module", params=["redis-lock", "zookeeper-lock"])
def worker(
    request: pytest.FixtureRequest, redis_broker_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """A worker on a Redis broker that redelivers unacknowledged messages after 3 s."""
    base = redis_broker_url.rpartition("/")[0]
    lock_url = base + "/2"
    if request.param == "zookeeper-lock":
        zookeeper: ZooKeeperServer = request.getfixturevalue("zookeeper_session_server")
        lock_url = f"zookeeper://{zookeeper.hosts}/accord-celery-tests"
    process = Worker(
        base + "/0", base + "/1", lock_url, Path(tmp_path_factory.mktemp("celery")), VISIBILITY
    )
    process.start()
    try:
        yield process
    finally:
        process.close()
        clear_backend_cache()


def settle(worker: Worker, acct: str, seconds: float) -> None:
    """Wait *seconds* more: deliveries deferred meanwhile come back and must not run."""
    time.sleep(seconds)


def test_a_redelivery_while_the_run_is_alive_does_not_run_the_body_again(worker: Worker) -> None:
    acct = account()
    first = worker.app.tasks["t.acks_late"].delay(acct, 8.0)  # runs past the visibility timeout
    run = first.get(timeout=40)
    settle(worker, acct, 4.0)
    assert first.state == "SUCCESS"
    assert run["id"] == first.id
    assert len(worker.deliveries(acct)) >= 2, (
        "the broker never redelivered: the test proves nothing"
    )
    assert [r["id"] for r in worker.started(acct)] == [first.id]


def test_an_eta_task_held_past_the_visibility_timeout_runs_once(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.rebuild_return_existing"]  # acks early: only its eta waits
    first = task.apply_async((acct, 1.0), countdown=VISIBILITY + 4)  # redelivered while waiting
    run = first.get(timeout=40)
    settle(worker, acct, 3.0)
    assert run["id"] == first.id
    assert len(worker.deliveries(acct)) >= 2, (
        "the broker never redelivered: the test proves nothing"
    )
    assert [r["id"] for r in worker.started(acct)] == [first.id]


def test_a_task_id_sent_twice_runs_once(worker: Worker) -> None:
    acct = account()
    task_id = f"fixed-{acct}"
    first = worker.app.send_task("t.acks_late", (acct, 2.0), task_id=task_id, queue=worker.queue)
    worker.wait_started(acct)
    worker.app.send_task("t.acks_late", (acct, 2.0), task_id=task_id, queue=worker.queue)
    first.get(timeout=20)
    settle(worker, acct, 3.0)
    assert len(worker.deliveries(acct)) >= 2
    assert [r["id"] for r in worker.started(acct)] == [task_id]
    assert first.state == "SUCCESS"


def test_apply_async_with_one_task_id_twice_runs_once(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.acks_late"]
    first = task.apply_async((acct, 2.0), task_id=f"fixed-{acct}")
    second = task.apply_async((acct, 2.0), task_id=f"fixed-{acct}")
    assert second.id == first.id
    first.get(timeout=20)
    settle(worker, acct, 3.0)
    assert [r["id"] for r in worker.started(acct)] == [first.id]


def test_a_redelivered_run_gets_a_greater_token_than_the_run_before(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.acks_late"]
    tokens = [task.delay(acct, 0.1).get(timeout=20)["token"] for _ in range(2)]
    assert tokens[0] < tokens[1]


@pytest.fixture(scope="module")
def amqp_worker(
    amqp_broker_url: str, redis_broker_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, FaultProxy]]:
    """A worker on RabbitMQ through a fault proxy (Redis locks), and the proxy."""
    parts = urllib.parse.urlsplit(amqp_broker_url)
    proxy = FaultProxy(parts.port or 5672).start()
    broker = parts._replace(netloc=f"{parts.netloc.rpartition('@')[0]}@{proxy.address}").geturl()
    base = redis_broker_url.rpartition("/")[0]
    process = Worker(broker, base + "/1", base + "/2", Path(tmp_path_factory.mktemp("celery")))
    process.start()
    try:
        yield process, proxy
    finally:
        process.close()
        proxy.close()
        clear_backend_cache()


def test_an_amqp_redelivery_after_a_lost_connection_does_not_run_the_body_again(
    amqp_worker: tuple[Worker, FaultProxy],
) -> None:
    # RabbitMQ requeues the unacknowledged message of a closed channel, as after
    # consumer_timeout; the first run goes on in its pool process meanwhile.
    worker, proxy = amqp_worker
    acct = account()
    first = worker.app.tasks["t.acks_late"].delay(acct, 6.0)
    worker.wait_started(acct)
    proxy.cut_all()
    run = first.get(timeout=40)
    settle(worker, acct, 4.0)
    assert run["id"] == first.id
    assert len(worker.deliveries(acct)) >= 2, "RabbitMQ never redelivered: the test proves nothing"
    assert [r["id"] for r in worker.started(acct)] == [first.id]
    assert worker.findings() == []
