"""Singleton runs on a ZooKeeper ensemble whose leader is killed while tasks run and queue.

A real prefork worker, a Redis broker, and the lock on a 3-member ensemble;
the leader is SIGKILLed twice while calls of three keys keep arriving. The
runs recorded by the tasks themselves must never overlap per key.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery_worker import Worker, account

from accord.core.errors import AccordError
from accord.core.lock.base import clear_backend_cache
from accord.testing import ZooKeeperEnsemble

pytest.importorskip("kazoo")


@pytest.fixture(scope="module")
def ensemble_worker(
    redis_broker_url: str,
    zookeeper_ensemble_session: ZooKeeperEnsemble,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    base = redis_broker_url.rpartition("/")[0]
    url = zookeeper_ensemble_session.url("/accord-singleton-campaign")
    process = Worker(base + "/0", base + "/1", url, Path(tmp_path_factory.mktemp("celery")))
    process.start()
    try:
        yield process
    finally:
        process.close()
        clear_backend_cache()


@pytest.mark.slow
def test_runs_of_one_key_never_overlap_while_the_leader_is_killed(
    ensemble_worker: Worker, zookeeper_ensemble: ZooKeeperEnsemble
) -> None:
    accounts = [account() for _ in range(3)]
    task = ensemble_worker.app.tasks["t.rebuild_return_existing"]
    results: list[Any] = []
    refused: list[str] = []
    stop = threading.Event()

    def submit() -> None:
        rng = random.Random(16)
        while not stop.is_set():
            try:
                results.append(task.delay(rng.choice(accounts), 0.2))
            except AccordError as exc:  # the enqueue check met the election
                refused.append(str(exc))
            time.sleep(0.05)

    caller = threading.Thread(target=submit)
    caller.start()
    try:
        for _ in range(2):
            time.sleep(2.0)
            old = zookeeper_ensemble.kill_leader()
            zookeeper_ensemble.wait_for_leader(other_than=old)
            old.start()
            zookeeper_ensemble.wait_ready()
        time.sleep(2.0)
    finally:
        stop.set()
        caller.join()
    for result in results:
        try:
            result.get(timeout=30)
        except Exception:  # a duplicate, or a run whose lease could not be taken
            continue
    total = 0
    for acct in accounts:
        runs = sorted(ensemble_worker.runs(acct), key=lambda run: run["start"])
        total += len(runs)
        for before, after in itertools.pairwise(runs):
            assert after["start"] >= before["end"], (acct, before, after)
    assert total >= 10, (total, len(results), refused[:3])
