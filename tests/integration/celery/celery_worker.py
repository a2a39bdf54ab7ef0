"""A real Celery worker (prefork, 2 processes) in its own process group, for the tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from celery_testapp import HISTORY_ENV, make_app

from accord.testing.brokers import delete_queue
from accord.testing.history import FencedStore, History
from accord.testing.invariants import check_singleton_runs
from accord.testing.leftovers import owned_prefix

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


class Worker:
    """``celery -A celery_testapp worker --pool=prefork --concurrency=2`` on its own queue."""

    def __init__(
        self,
        broker: str,
        results: str,
        lock_url: str,
        log_dir: Path,
        visibility_timeout: float | None = None,
    ) -> None:
        self.queue = owned_prefix(separator="-") + uuid.uuid4().hex[:8]
        self.broker, self.results, self.lock_url = broker, results, lock_url
        self.visibility_timeout = visibility_timeout
        self.app = make_app(broker, results, lock_url, self.queue, visibility_timeout)
        self.history = log_dir / f"history-{self.queue}"
        self.history.mkdir(parents=True, exist_ok=True)
        self.store = redis.Redis.from_url(results)
        self.log = log_dir / f"worker-{self.queue}.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: Whether enqueue takes a reservation (Redis and ZooKeeper both do).
        self.reserves = True

    def start(self, timeout: float = 40.0) -> None:
        env = {
            **os.environ,
            "ACCORD_TEST_BROKER": self.broker,
            "ACCORD_TEST_RESULTS": self.results,
            "ACCORD_TEST_LOCK_URL": self.lock_url,
            "ACCORD_TEST_QUEUE": self.queue,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
        }
        env[HISTORY_ENV] = str(self.history)
        if self.visibility_timeout is not None:
            env["ACCORD_TEST_VISIBILITY"] = str(self.visibility_timeout)
        command = [
            *(sys.executable, "-m", "celery", "-A", "celery_testapp", "worker"),
            *("--pool=prefork", "--concurrency=2", "-Q", self.queue, "-l", "info"),
            *("-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle"),
            "--without-heartbeat",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.app.send_task("t.ping", queue=self.queue).get(timeout=2)
                return
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the worker did not start; see {self.log}") from None

    def stop(self) -> None:
        """Stop the whole process group: TERM, then KILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        with _suppress_gone():
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            with _suppress_gone():
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.app.close()

    def close(self) -> None:
        """Stop the worker and delete its queue, which Celery declared durable."""
        self.stop()
        delete_queue(self.broker, self.queue)

    def children(self) -> list[int]:
        """The pids of the pool's processes."""
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def runs(self, account: str) -> list[dict[str, Any]]:
        """The finished runs of *account*'s tasks, in order of finishing."""
        return [json.loads(r) for r in self.store.lrange(f"runs:{account}", 0, -1)]

    def started(self, account: str) -> list[dict[str, Any]]:
        """The runs of *account*'s tasks that started (finished or not)."""
        return [json.loads(r) for r in self.store.lrange(f"started:{account}", 0, -1)]

    def deliveries(self, account: str) -> list[str]:
        """The task ids of every delivery of *account*'s tasks a pool process took up."""
        return [d.decode() for d in self.store.lrange(f"deliveries:{account}", 0, -1)]

    def findings(self) -> list[str]:
        """What the runs so far broke of one run per key (empty: all held); see invariants."""
        events = History(self.history / "runs.jsonl").events()
        writes = FencedStore(self.history / "store.jsonl").writes()
        return check_singleton_runs(events, writes)

    def hooks(self, account: str) -> list[dict[str, Any]]:
        """The ``accord_task_duplicate_suppressed`` calls the worker saw for *account*."""
        return [json.loads(r) for r in self.store.lrange(f"hooks:{account}", 0, -1)]

    def wait_started(self, account: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(runs := self.started(account)) < count:
            assert time.monotonic() < deadline, f"{count} runs of {account} did not start"
            time.sleep(0.05)
        return runs


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is ProcessLookupError


def account() -> str:
    """A fresh account id: each test's keys are its own."""
    return uuid.uuid4().hex[:12]
