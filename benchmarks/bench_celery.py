"""What ``@singleton_task`` adds to a Celery task, against a plain task and celery-once, in one run.

    python benchmarks/bench_celery.py [--quick] [--tasks 300] [--broker redis|amqp]

Starts its own Redis servers (one for the broker and results, one for the
locks, so lock commands can be counted) and a real worker (prefork, 2
processes) that imports this module as its app. Then, per kind of task
(plain ``@app.task``; accord ``@singleton_task`` on a Redis lock; celery-once
``QueueOnce`` on the same lock Redis), each call with its own key:

* **enqueue**: median time of ``apply_async`` in the caller;
* **execution**: median of (``apply_async`` to result) minus enqueue, one
  task at a time (the kinds interleaved), so the worker-side cost (lock calls
  before and after the body) shows up undiluted;
* **lock round trips** per task, at enqueue (counted in the caller) and in
  the worker (the lock server's command count minus the caller's).

Ratios are to the plain task, and to celery-once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from celery import Celery

HERE = Path(__file__).resolve().parent
ENV = ("ACCORD_BENCH_BROKER", "ACCORD_BENCH_RESULTS", "ACCORD_BENCH_LOCKS")


def make_app(broker: str, results: str, locks: str) -> Celery:
    """The benchmark app: the same three no-op tasks in the worker and the caller."""
    from celery_once import QueueOnce

    from accord.contrib.celery import singleton_task

    app = Celery("accord_bench", broker=broker, backend=results, set_as_current=False)
    app.conf.update(
        accord_lock_url=locks,
        ONCE={"backend": "celery_once.backends.Redis", "settings": {"url": locks}},
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @app.task(name="b.plain", shared=False)
    def plain(key: str) -> str:
        return key

    @singleton_task(app=app, name="b.singleton", shared=False)
    def singleton(key: str) -> str:
        return key

    @app.task(name="b.once", base=QueueOnce, shared=False, once={"graceful": True})
    def once(key: str) -> str:
        return key

    return app


app = make_app(*(os.environ[name] for name in ENV)) if ENV[0] in os.environ else None


class Monitor:
    """Counts the commands clients send to the lock server (MONITOR; not those run by scripts)."""

    def __init__(self, url: str) -> None:
        import threading

        import redis

        self.count = 0
        self._monitor = redis.Redis.from_url(url).monitor()
        self._monitor.__enter__()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # the connection closes at the end
            while True:
                command = self._monitor.next_command()
                if command.get("client_type") != "lua" and command["command"] != "PING":
                    self.count += 1


class CountingClient:
    """Counts the caller's commands to the lock server (patches redis-py's connections)."""

    def __init__(self, port: int) -> None:
        import redis.connection

        self.port, self.count = port, 0
        original = redis.connection.AbstractConnection.send_packed_command

        def send(conn: Any, command: Any, check_health: bool = True) -> Any:
            if getattr(conn, "port", None) == self.port:
                self.count += 1
            return original(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = send  # type: ignore[method-assign]


def measure(bench: Celery, names: dict[str, str], tasks: int) -> dict[str, dict[str, float]]:
    """Median enqueue and execution times per kind, calls interleaved (one at a time)
    so that load from elsewhere on the machine weighs on every kind alike."""
    for name in names.values():  # warm up connections and scripts
        for _ in range(10):
            bench.tasks[name].delay(uuid.uuid4().hex).get(timeout=10)
    enqueue: dict[str, list[float]] = {label: [] for label in names}
    total: dict[str, list[float]] = {label: [] for label in names}
    for _ in range(tasks):
        for label, name in names.items():
            key = uuid.uuid4().hex
            started = time.perf_counter()
            result = bench.tasks[name].apply_async((key,))
            sent = time.perf_counter()
            assert result.get(timeout=10) == key
            enqueue[label].append(sent - started)
            total[label].append(time.perf_counter() - started)
    return {
        label: {
            "enqueue": statistics.median(enqueue[label]),
            "execution": statistics.median(
                t - e for t, e in zip(total[label], enqueue[label], strict=True)
            ),
        }
        for label in names
    }


def round_trips(
    bench: Celery, name: str, tasks: int, counter: CountingClient, monitor: Monitor
) -> dict[str, float]:
    """Lock round trips per call of *name*: in the caller, and in the worker (the rest)."""
    task = bench.tasks[name]
    time.sleep(0.2)
    before_server, before_caller = monitor.count, counter.count
    for _ in range(tasks):
        task.delay(uuid.uuid4().hex).get(timeout=10)
    time.sleep(0.5)  # let MONITOR catch up
    caller = counter.count - before_caller
    server = monitor.count - before_server
    return {"enqueue_trips": caller / tasks, "worker_trips": (server - caller) / tasks}


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "bench_celery", "worker"]
    command += ["--pool=prefork", "--concurrency=2", "-l", "warning", "--without-gossip"]
    command += ["--without-mingle", "--without-heartbeat", "-n", f"bench-{uuid.uuid4().hex[:6]}@%h"]
    # The worker's banner and logs go to a file, not into the benchmark's table.
    log = Path(tempfile.mkdtemp(prefix="accord-bench-")) / "worker.log"
    print(f"worker log: {log}", file=sys.stderr)
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command, cwd=HERE, env={**os.environ, **env,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def main() -> None:
    """Start the servers and the worker, measure every kind, print a markdown table."""
    from accord.testing.brokers import check_amqp
    from accord.testing.servers import RedisServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 40 tasks per kind")
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--broker", choices=("redis", "amqp"), default="redis")
    args = parser.parse_args()
    tasks = 40 if args.quick else args.tasks
    with RedisServer() as data, RedisServer() as locks:
        broker = check_amqp() if args.broker == "amqp" else f"{data.url}/0"
        env = dict(zip(ENV, (broker, f"{data.url}/1", f"{locks.url}/0"), strict=True))
        worker = start_worker(env)
        try:
            bench = make_app(*env.values())
            bench.send_task("b.plain", ("ready",)).get(timeout=60)
            kinds = {"plain task": "b.plain", "accord @singleton_task": "b.singleton",
                     "celery-once QueueOnce": "b.once"}  # fmt: skip
            figures = measure(bench, kinds, tasks)
            counter, monitor = CountingClient(locks.port), Monitor(locks.url)
            for label, name in kinds.items():  # apart: MONITOR slows the server down
                figures[label].update(round_trips(bench, name, 20, counter, monitor))
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)
    report(figures, tasks, args.broker)
    sys.exit(0 if targets(figures) else 1)


#: Issue 12's targets: enqueue at most 1.25x a plain task, at most 2 lock round trips per side.
ENQUEUE_TARGET, TRIPS_TARGET = 1.25, 2.0


def targets(figures: dict[str, dict[str, float]]) -> bool:
    """Print whether this run met the targets; True if it did."""
    accord, plain = figures["accord @singleton_task"], figures["plain task"]
    ratio = accord["enqueue"] / plain["enqueue"]
    trips = max(accord["enqueue_trips"], accord["worker_trips"])
    checks = [
        (f"enqueue {ratio:.2f}x a plain task", ratio <= ENQUEUE_TARGET, f"<= {ENQUEUE_TARGET}x"),
        (f"lock round trips {accord['enqueue_trips']:.1f} / {accord['worker_trips']:.1f}",
         trips <= TRIPS_TARGET, f"<= {TRIPS_TARGET:.0f} per side"),
    ]  # fmt: skip
    print("\nTargets:")
    for what, met, target in checks:
        print(f"- {what} ({target}): {'met' if met else 'MISSED'}")
    return all(met for _, met, _ in checks)


def report(figures: dict[str, dict[str, float]], tasks: int, broker: str) -> None:
    plain, once = figures["plain task"], figures["celery-once QueueOnce"]
    print(f"## Per task, {tasks} tasks one at a time, {broker} broker, Redis locks (medians)\n")
    print("| kind | enqueue us | x plain | x celery-once | execution ms | added over plain ms "
          "| lock round trips enqueue / worker |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for label, f in figures.items():
        print(
            f"| {label} | {f['enqueue'] * 1e6:.0f} | {f['enqueue'] / plain['enqueue']:.2f} "
            f"| {f['enqueue'] / once['enqueue']:.2f} | {f['execution'] * 1e3:.2f} "
            f"| {(f['execution'] - plain['execution']) * 1e3:+.2f} "
            f"| {f['enqueue_trips']:.1f} / {f['worker_trips']:.1f} |"
        )


if __name__ == "__main__":
    main()
