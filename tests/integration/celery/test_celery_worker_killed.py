"""A whole worker SIGKILLed mid-task: nobody releases, the lease runs out, the next call runs."""

from __future__ import annotations

import os
import signal
import time

from celery_worker import Worker, account

LEASE = 2.0  # t.killable's lease; ZooKeeper: the session timeout (2 s in these tests)


def test_a_killed_workers_lease_expires_and_the_next_call_runs(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks["t.killable"]
    first = task.delay(acct)
    worker.wait_started(acct)
    assert worker.process is not None
    os.killpg(worker.process.pid, signal.SIGKILL)  # main process and pool: nobody releases
    worker.process.wait(5)
    killed = time.monotonic()
    while (second := task.delay(acct, 0.1)).id == first.id:
        assert time.monotonic() - killed < LEASE + 4, "the dead worker's lease never ended"
        time.sleep(0.1)
    assert time.monotonic() - killed > 0.5  # the lease outlived the worker for a while
    worker.start()
    assert second.get(timeout=20)["id"] == second.id
    assert [run["id"] for run in worker.runs(acct)] == [second.id]
