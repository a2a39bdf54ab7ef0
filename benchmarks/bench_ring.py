"""accord's HashRing against uhashring 2.5, side by side in one run.

Run ``python benchmarks/bench_ring.py`` (``--quick`` for a smoke run with
fewer keys and repeats; its figures are noisier and its exit code is not a
verdict). Prints medians over several repeats and the ratio accord/uhashring,
and exits 1 if a target of issue 3 is missed (full run only).

Targets: lookups >= 3x uhashring's default mode (accord defaults) and >= 2x
its ketama mode (accord ketama), at 10 and 100 nodes; a 1,000-node ketama
build >= 10x faster; mean max/mean load over 20 sets of 10 nodes <= 1.10;
adding an 11th node moves <= 1.1x the ideal 1/11 of keys, all to the new node;
removing a node moves only its keys.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import uhashring

from accord.core.ring import DEFAULT_VNODES, HashRing


def random_keys(count: int, seed: int = 42) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    return ["".join(rng.choices(alphabet, k=rng.randint(8, 32))) for _ in range(count)]


def name_sets(sets: int, size: int) -> list[list[str]]:
    rng = random.Random(7)
    return [
        [f"cache-{rng.randrange(10**6)}.internal:{rng.choice((6379, 11211))}" for _ in range(size)]
        for _ in range(sets)
    ]


def median_time(action: Callable[[], Any], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def lookups_per_second(get_node: Callable[[str], Any], keys: Sequence[str], repeats: int) -> float:
    def run() -> None:
        for key in keys:
            get_node(key)

    return len(keys) / median_time(run, repeats)


def load_ratio(get_node: Callable[[str], Any], keys: Sequence[str], nodes: int) -> float:
    counts = Counter(map(get_node, keys))
    return max(counts.values()) / (len(keys) / nodes)


def ring_memory_per_node(make: Callable[[], Any], nodes: int) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ring = make()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del ring
    return (after - before) / nodes


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.missed: list[str] = []

    def add(self, what: str, ours: str, theirs: str, ratio: float, target: float | None) -> None:
        verdict = "" if target is None else ("ok" if ratio >= target else "MISSED")
        if verdict == "MISSED":
            self.missed.append(what)
        goal = "" if target is None else f">= {target:g}x"
        self.rows.append((what, ours, theirs, f"{ratio:.2f}x", f"{goal} {verdict}".strip()))

    def add_limit(self, what: str, ours: float, theirs: str, limit: float) -> None:
        ok = ours <= limit
        if not ok:
            self.missed.append(what)
        self.rows.append(
            (what, f"{ours:.3f}", theirs, "", f"<= {limit:g} {'ok' if ok else 'MISSED'}")
        )

    def print(self) -> None:
        header = ("measure", "accord", "uhashring", "ratio", "target")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(5)]
        line = "  ".join("=" * w for w in widths)
        print(line)
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print(line)
        for row in self.rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        print(line)


def bench_lookups(report: Report, keys: list[str], repeats: int) -> None:
    for nodes in (10, 100):
        names = [f"cache-{i}.internal:11211" for i in range(nodes)]
        for label, ours, theirs, target in (
            ("default", HashRing(names), uhashring.HashRing(names), 3.0),
            (
                "ketama",
                HashRing(names, hash="ketama"),
                uhashring.HashRing(names, hash_fn="ketama"),
                2.0,
            ),
        ):
            a = lookups_per_second(ours.get_node, keys, repeats)
            b = lookups_per_second(theirs.get_node, keys, repeats)
            report.add(
                f"lookups/s, {label}, {nodes} nodes",
                f"{a / 1e6:.2f}M",
                f"{b / 1e6:.2f}M",
                a / b,
                target,
            )


def bench_build(report: Report, repeats: int, nodes: int) -> None:
    names = [f"10.0.{i // 256}.{i % 256}:11211" for i in range(nodes)]
    a = median_time(lambda: HashRing(names, hash="ketama"), repeats)
    b = median_time(lambda: uhashring.HashRing(names, hash_fn="ketama"), max(1, repeats // 2))
    report.add(f"build {nodes}-node ketama ring, s", f"{a:.3f}", f"{b:.3f}", b / a, 10.0)

    base = [f"cache-{i}.internal:6379" for i in range(100)]
    ring = HashRing(base)

    def add_one() -> None:
        clone = ring.copy()
        clone.add_node("cache-new.internal:6379")

    add = median_time(add_one, repeats * 5)
    fresh = median_time(lambda: HashRing([*base, "cache-new.internal:6379"]), repeats)
    theirs_ring = uhashring.HashRing(base)

    def uh_add() -> None:
        theirs_ring.add_node("cache-new.internal:6379")
        theirs_ring.remove_node("cache-new.internal:6379")

    uh = median_time(uh_add, repeats) / 2
    report.add(
        "add_node to 100 nodes, ms (vs uhashring)",
        f"{add * 1e3:.2f}",
        f"{uh * 1e3:.2f}",
        uh / add,
        None,
    )
    report.add(
        "add_node vs accord rebuild of 101, ms",
        f"{add * 1e3:.2f}",
        f"{fresh * 1e3:.2f}*",
        fresh / add,
        1.0,
    )


def bench_balance(report: Report, keys: list[str], sets: list[list[str]]) -> None:
    ours = statistics.mean(load_ratio(HashRing(s).get_node, keys, 10) for s in sets)
    ketama = statistics.mean(
        load_ratio(HashRing(s, hash="ketama").get_node, keys, 10) for s in sets
    )
    uh = statistics.mean(load_ratio(uhashring.HashRing(s).get_node, keys, 10) for s in sets)
    uk = statistics.mean(
        load_ratio(uhashring.HashRing(s, hash_fn="ketama").get_node, keys, 10) for s in sets
    )
    report.add_limit(f"max/mean load, default, {len(sets)} sets of 10", ours, f"{uh:.3f}", 1.10)
    report.rows.append(
        (f"max/mean load, ketama, {len(sets)} sets of 10", f"{ketama:.3f}", f"{uk:.3f}", "", "")
    )


def bench_movement(report: Report, keys: list[str], sets: list[list[str]]) -> None:
    moved_ratios, uh_ratios = [], []
    stray_add = stray_remove = 0
    for names in sets:
        ring = HashRing(names)
        before = [ring.get_node(k) for k in keys]
        ring.add_node("cache-11.internal:6379")
        after = [ring.get_node(k) for k in keys]
        moved = [(b, a) for b, a in zip(before, after, strict=True) if a != b]
        stray_add += sum(a != "cache-11.internal:6379" for _, a in moved)
        moved_ratios.append(len(moved) / len(keys) / (1 / 11))

        theirs = uhashring.HashRing(names)
        uh_before = [theirs.get_node(k) for k in keys]
        theirs.add_node("cache-11.internal:6379")
        uh_moved = sum(theirs.get_node(k) != b for k, b in zip(keys, uh_before, strict=True))
        uh_ratios.append(uh_moved / len(keys) / (1 / 11))

        ring.remove_node(names[0])
        removed = [ring.get_node(k) for k in keys]
        stray_remove += sum(r != a and a != names[0] for a, r in zip(after, removed, strict=True))
    mean_ratio = statistics.mean(moved_ratios)
    report.add_limit(
        "keys moved adding 11th node / ideal 1/11 (mean)",
        mean_ratio,
        f"{statistics.mean(uh_ratios):.3f}",
        1.1,
    )
    report.rows.append(
        ("  same, worst of the sets", f"{max(moved_ratios):.3f}", f"{max(uh_ratios):.3f}", "", "")
    )
    report.add_limit("keys moved to a node other than the new one", stray_add, "", 0)
    report.add_limit("keys moved on remove that were not its", stray_remove, "", 0)


def bench_memory(report: Report) -> None:
    names = [f"cache-{i}.internal:6379" for i in range(100)]
    ours = ring_memory_per_node(lambda: HashRing(names), 100)
    ketama = ring_memory_per_node(lambda: HashRing(names, hash="ketama"), 100)
    uh = ring_memory_per_node(lambda: uhashring.HashRing(names), 100)
    uk = ring_memory_per_node(lambda: uhashring.HashRing(names, hash_fn="ketama"), 100)
    report.rows.append(
        (
            f"memory per node, default ({DEFAULT_VNODES} points), KiB",
            f"{ours / 1024:.1f}",
            f"{uh / 1024:.1f}",
            "",
            "",
        )
    )
    report.rows.append(
        (
            "memory per node, ketama (160 points), KiB",
            f"{ketama / 1024:.1f}",
            f"{uk / 1024:.1f}",
            "",
            "",
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer keys and repeats")
    args = parser.parse_args(argv)
    count, repeats, sets, build_nodes = (
        (20_000, 2, 5, 1000) if args.quick else (100_000, 5, 20, 1000)
    )
    keys = random_keys(count)
    report = Report()
    bench_lookups(report, keys, repeats)
    bench_build(report, 3 if not args.quick else 1, build_nodes)
    name_groups = name_sets(sets, 10)
    bench_balance(report, keys, name_groups)
    bench_movement(report, keys, name_groups)
    bench_memory(report)
    print(
        f"HashRing vs uhashring 2.5 on {count:,} random keys, median of {repeats} runs; "
        f"Python {sys.version.split()[0]}"
    )
    report.print()
    print("* accord's own full rebuild, to show add_node does not rebuild from scratch.")
    if report.missed:
        print(f"MISSED: {', '.join(report.missed)}")
        return 0 if args.quick else 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
