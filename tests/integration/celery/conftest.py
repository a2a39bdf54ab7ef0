"""Fixtures of the singleton-task tests: a real broker, a real prefork worker, real locks.

``worker`` is one worker per combination of broker (Redis, RabbitMQ) and lock
backend (Redis, ZooKeeper), started once per module and combination and
stopped (its whole process group) at teardown. Results go to Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery_worker import Worker

from accord.core.lock.base import clear_backend_cache
from accord.testing.redis_ha import SentinelGroup
from accord.testing.servers import ZooKeeperServer
from accord.testing.zookeeper_ensemble import ZooKeeperEnsemble

COMBINATIONS = {
    "redis-broker/redis-lock": ("redis", "redis"),
    "redis-broker/zookeeper-lock": ("redis", "zookeeper"),
    "amqp-broker/redis-lock": ("amqp", "redis"),
    "amqp-broker/zookeeper-lock": ("amqp", "zookeeper"),
    # The replicated engines: the same semantics table must hold on them.
    "redis-broker/sentinel-lock": ("redis", "sentinel"),
    "redis-broker/zookeeper-ensemble-lock": ("redis", "zookeeper-ensemble"),
}


@pytest.fixture(scope="module", params=sorted(COMBINATIONS))
def worker(
    request: pytest.FixtureRequest, redis_broker_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """A started worker (broker and lock backend per the parameter); stopped at teardown."""
    broker_kind, lock_kind = COMBINATIONS[request.param]
    base = redis_broker_url.rpartition("/")[0]
    broker = base + "/0"
    if broker_kind == "amqp":
        broker = request.getfixturevalue("amqp_broker_url")
    if lock_kind == "zookeeper":
        zookeeper: ZooKeeperServer = request.getfixturevalue("zookeeper_session_server")
        lock_url = f"zookeeper://{zookeeper.hosts}/accord-celery-tests"
    elif lock_kind == "zookeeper-ensemble":
        ensemble: ZooKeeperEnsemble = request.getfixturevalue("zookeeper_ensemble_session")
        lock_url = ensemble.url("/accord-celery-tests")
    elif lock_kind == "sentinel":
        group: SentinelGroup = request.getfixturevalue("sentinel_group_session")
        lock_url = group.url(2)
    else:
        lock_url = base + "/2"
    process = Worker(broker, base + "/1", lock_url, Path(tmp_path_factory.mktemp("celery")))
    process.start()
    try:
        yield process
    finally:
        process.close()
        clear_backend_cache()  # before the lock servers go


@pytest.fixture(autouse=True)
def one_run_per_key(worker: Worker) -> Iterator[None]:
    """After each test: the runs it added kept one run per key (see check_singleton_runs)."""
    before = len(worker.findings())
    yield
    found = worker.findings()[before:]
    assert not found, "\n".join(found)
