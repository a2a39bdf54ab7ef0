"""accord's lock against the locks users would otherwise pick, in one run.

    python benchmarks/bench_lock.py [--quick] [--seconds S] [--threads N] [--rounds N] [--repeat N]

Starts its own Redis and ZooKeeper on loopback ports, then:

* uncontended: median of ``--rounds`` acquire+release pairs, per library,
  and each library's ratio to redis-py's ``Lock``;
* contended: ``--threads`` threads loop acquire / trivial critical section /
  release for ``--seconds``; reports throughput, the maximum wait of any
  acquire, and fairness (fewest / most acquisitions of any thread). Each
  library runs ``--repeat`` times, the libraries taking turns, and the table
  shows the median of each figure, so noise from other processes on the
  machine falls on all alike.

Competitors (the ``bench`` extra): redis-py ``Lock`` (``timeout=30``),
python-redis-lock ``Lock`` (``expire=30``), pottery ``Redlock`` on one master
(``auto_release_time=30``), and on ZooKeeper kazoo's own ``Lock`` recipe (one
client shared by the threads, as accord shares one session per process).
accord runs with ``ttl=30, renew=True``, as users would; then its file
backend. Exits 1 if a target of issue 11 is missed (full run only): on Redis
uncontended at most 1.1x redis-py's ``Lock``, contended max wait at most 20 ms
and fairness at least 0.95; on ZooKeeper throughput and max wait at least as
good as kazoo's ``Lock``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from accord.core.lock import Lock
from accord.testing.errors import ServiceUnavailable
from accord.testing.servers import RedisServer, ZooKeeperServer

Factory = Callable[[str], Any]  # name -> an object with acquire() and release()
Row = dict[str, float]


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


def zookeeper_factories(hosts: str) -> tuple[dict[str, Factory], Callable[[], None]]:
    """kazoo's Lock recipe and accord's backend on one ZooKeeper; and how to close them."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts)
    client.start(timeout=30)

    def close() -> None:
        client.stop()
        client.close()

    factories = {
        "kazoo Lock (zookeeper)": lambda name: client.Lock(f"/kazoo-bench/{name}"),
        "accord (zookeeper)": lambda name: Lock(name, f"zookeeper://{hosts}", ttl=30),
    }
    return factories, close


def uncontended(factories: dict[str, Factory], rounds: int, blocks: int = 200) -> dict[str, float]:
    """Median seconds of one acquire + release per library, on a fresh name each.

    The libraries take turns in ``blocks`` short blocks (30 pairs each by
    default), so that bursts of other work on the machine fall on all of them
    alike.
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


def contended(factory: Factory, threads: int, seconds: float) -> Row:
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


def contended_medians(
    factories: dict[str, Factory], threads: int, seconds: float, repeat: int
) -> dict[str, Row]:
    """:func:`contended` *repeat* times per library, taking turns; the median of each figure."""
    runs: dict[str, list[Row]] = {label: [] for label in factories}
    for _ in range(repeat):
        for label, factory in factories.items():
            runs[label].append(contended(factory, threads, seconds))
    return {
        label: {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        for label, rows in runs.items()
    }


def line(label: str, row: Row) -> str:
    """One markdown row of the contended table."""
    return (
        f"| {label} | {row['per_s']:.0f} | {row['max_wait_ms']:.1f} "
        f"| {row['p99_wait_ms']:.1f} | {row['fairness']:.2f} |"
    )


def targets(medians: dict[str, float], rows: dict[str, Row]) -> list[tuple[str, bool]]:
    """Each target of issue 11 in words, and whether this run met it."""
    ratio = medians["accord (redis)"] / medians["redis-py Lock"]
    redis_row = rows["accord (redis)"]
    found = [
        (f"uncontended on Redis <= 1.1x redis-py Lock: {ratio:.2f}x", ratio <= 1.1),
        (
            f"8 threads on Redis: max wait <= 20 ms: {redis_row['max_wait_ms']:.1f} ms",
            redis_row["max_wait_ms"] <= 20,
        ),
        (
            f"8 threads on Redis: fairness >= 0.95: {redis_row['fairness']:.2f}",
            redis_row["fairness"] >= 0.95,
        ),
    ]
    ours, kazoo = rows.get("accord (zookeeper)"), rows.get("kazoo Lock (zookeeper)")
    if ours is not None and kazoo is not None:
        found += [
            (
                f"ZooKeeper throughput >= kazoo Lock: {ours['per_s']:.0f}/s vs "
                f"{kazoo['per_s']:.0f}/s ({ours['per_s'] / kazoo['per_s']:.2f}x)",
                ours["per_s"] >= kazoo["per_s"],
            ),
            (
                f"ZooKeeper max wait <= kazoo Lock: {ours['max_wait_ms']:.1f} ms vs "
                f"{kazoo['max_wait_ms']:.1f} ms",
                ours["max_wait_ms"] <= kazoo["max_wait_ms"],
            ),
        ]
    return found


def main() -> int:
    """Run every measurement, print the tables (markdown) and the targets; 1 if one is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 s, 400 rounds, once")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.repeat = 1.0, 400, 1
    rows: dict[str, Row] = {}
    with RedisServer() as server:
        factories = redis_factories(f"{server.url}/0")
        medians = uncontended(factories, args.rounds)
        with tempfile.TemporaryDirectory() as directory:
            factories["accord (file)"] = lambda name: Lock(name, f"file://{directory}", ttl=30)
            rows.update(contended_medians(factories, args.threads, args.seconds, args.repeat))
    try:
        with ZooKeeperServer() as zk:
            zk_factories, close = zookeeper_factories(zk.hosts)
            try:
                rows.update(
                    contended_medians(zk_factories, args.threads, args.seconds, args.repeat)
                )
            finally:
                close()
    except ServiceUnavailable as exc:
        print(f"(ZooKeeper rows skipped: {exc})")
    print(f"## Uncontended acquire+release on one local Redis (median of {args.rounds})\n")
    print("| library | median us | ratio to redis-py Lock |\n|---|---|---|")
    baseline = medians["redis-py Lock"]
    for label, median in medians.items():
        print(f"| {label} | {median * 1e6:.0f} | {median / baseline:.2f} |")
    print(
        f"\n## {args.threads} threads contending for {args.seconds:.0f} s "
        f"(median of {args.repeat} runs)\n"
    )
    print("| library | acquisitions/s | max wait ms | p99 wait ms | fairness (min/max) |")
    print("|---|---|---|---|---|")
    for label, row in rows.items():
        print(line(label, row))
    print("\n## Targets (issue 11)\n")
    met = targets(medians, rows)
    for text, ok in met:
        print(f"- {text}: {'ok' if ok else 'MISSED'}")
    if args.quick:
        return 0
    return 0 if all(ok for _, ok in met) else 1


if __name__ == "__main__":
    sys.exit(main())
