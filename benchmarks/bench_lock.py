"""accord's lock against the Redis locks users would otherwise pick, in one run.

    python benchmarks/bench_lock.py [--quick] [--seconds 5] [--threads 8] [--rounds 2000]

Starts its own Redis (and ZooKeeper, when installed) on loopback ports, then:

* uncontended: median of ``--rounds`` acquire+release pairs, per library,
  and each library's ratio to redis-py's ``Lock``;
* contended: ``--threads`` threads loop acquire / trivial critical section /
  release for ``--seconds``; reports throughput, the maximum wait of any
  acquire, and fairness (fewest / most acquisitions of any thread).

Competitors (the ``bench`` extra): redis-py ``Lock`` (``timeout=30``),
python-redis-lock ``Lock`` (``expire=30``), pottery ``Redlock`` on one master
(``auto_release_time=30``). accord runs with ``ttl=30, renew=True``, as users
would. Then the same contended figures for accord's ZooKeeper and file backends.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from accord.core.errors import ServiceUnavailable
from accord.core.lock import Lock
from accord.testing.servers import RedisServer, ZooKeeperServer

Factory = Callable[[str], Any]  # name -> an object with acquire() and release()


def redis_factories(url: str) -> dict[str, Factory]:
    """The Redis-backed locks under comparison, each as ``name -> lock``."""
    import redis
    import redis_lock
    from pottery import Redlock

    client = redis.Redis.from_url(url)
    return {
        "redis-py Lock": lambda name: client.lock(name, timeout=30),
        "python-redis-lock": lambda name: redis_lock.Lock(client, name, expire=30),
        "pottery Redlock": lambda name: Redlock(key=name, masters={client}, auto_release_time=30),
        "accord (redis)": lambda name: Lock(name, url, ttl=30),
    }


def uncontended(factories: dict[str, Factory], rounds: int, blocks: int = 20) -> dict[str, float]:
    """Median seconds of one acquire + release per library, on a fresh name each.

    The libraries take turns in ``blocks`` blocks, so that noise from other
    processes on the machine falls on all of them alike.
    """
    locks = {label: factory(f"bench-{uuid.uuid4().hex}") for label, factory in factories.items()}
    samples: dict[str, list[float]] = {label: [] for label in locks}
    for _ in range(50):  # warm connections and scripts
        for lock in locks.values():
            lock.acquire()
            lock.release()
    for _ in range(blocks):
        for label, lock in locks.items():
            for _ in range(rounds // blocks):
                started = time.perf_counter()
                lock.acquire()
                lock.release()
                samples[label].append(time.perf_counter() - started)
    return {label: statistics.median(values) for label, values in samples.items()}


def contended(factory: Factory, threads: int, seconds: float) -> dict[str, float]:
    """Throughput, max wait and fairness of *threads* looping on one lock for *seconds*."""
    name = f"bench-{uuid.uuid4().hex}"
    counts = [0] * threads
    waits: list[list[float]] = [[] for _ in range(threads)]
    stop = threading.Event()
    start = threading.Barrier(threads + 1)

    def run(i: int) -> None:
        lock = factory(name)
        start.wait()
        while not stop.is_set():
            asked = time.perf_counter()
            lock.acquire()
            waits[i].append(time.perf_counter() - asked)
            counts[i] += 1
            lock.release()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    every = sorted(w for per_thread in waits for w in per_thread)
    return {
        "per_s": sum(counts) / seconds,
        "max_wait_ms": every[-1] * 1000,
        "p99_wait_ms": every[int(len(every) * 0.99)] * 1000,
        "fairness": min(counts) / max(counts) if max(counts) else 0.0,
    }


def line(label: str, row: dict[str, float]) -> str:
    """One markdown row of the contended table."""
    return (
        f"| {label} | {row['per_s']:.0f} | {row['max_wait_ms']:.1f} "
        f"| {row['p99_wait_ms']:.1f} | {row['fairness']:.2f} |"
    )


def main() -> None:
    """Run every measurement and print the tables (markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 s, 200 rounds")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 1.0, 200

    def accord_on(url: str) -> dict[str, float]:
        return contended(lambda name: Lock(name, url, ttl=30), args.threads, args.seconds)

    with RedisServer() as server:
        factories = redis_factories(f"{server.url}/0")
        print(f"## Uncontended acquire+release on one local Redis (median of {args.rounds})\n")
        print("| library | median us | ratio to redis-py Lock |\n|---|---|---|")
        medians = uncontended(factories, args.rounds)
        baseline = medians["redis-py Lock"]
        for label, median in medians.items():
            print(f"| {label} | {median * 1e6:.0f} | {median / baseline:.2f} |")
        print(f"\n## {args.threads} threads contending for {args.seconds:.0f} s\n")
        print("| library | acquisitions/s | max wait ms | p99 wait ms | fairness (min/max) |")
        print("|---|---|---|---|---|")
        for label, factory in factories.items():
            print(line(label, contended(factory, args.threads, args.seconds)), flush=True)
        with tempfile.TemporaryDirectory() as directory:
            print(line("accord (file)", accord_on(f"file://{directory}")), flush=True)
    try:
        with ZooKeeperServer() as zk:
            print(line("accord (zookeeper)", accord_on(f"zookeeper://{zk.hosts}")))
    except ServiceUnavailable as exc:
        print(f"| accord (zookeeper) | skipped: {exc} | | | |")


if __name__ == "__main__":
    main()
