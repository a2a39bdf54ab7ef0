"""Two-phase commit latency: ``tpc.atomic`` against plain commits, in one run.

Run ``python benchmarks/bench_tpc.py`` (``--quick`` for a smoke run). It
creates scratch databases (PostgreSQL x2, and MariaDB when reachable) with
:mod:`accord.testing.databases`, and times a one-row update on each database:

* ``one plain``: one database, one ``transaction.atomic`` commit;
* ``two plain``: both databases, one commit after the other (not atomic);
* ``tpc``: ``tpc.atomic`` over both (decision row in the first: logging last resource);
* ``tpc, separate log``: the decision row on its own connection (one more commit).

Prints the median over rounds of the mean latency per transaction, the
throughput of one client, and the ratios. Targets (issue 7): tpc <= 2.0x two
plain commits and <= 4.0x one plain commit; exits 1 if missed (full run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import django
from django.conf import settings

from accord.core.errors import ServiceUnavailable
from accord.testing.databases import MySQLDatabase, PostgresDatabases


def configure(databases: dict[str, Any]) -> None:
    settings.configure(DATABASES=databases, INSTALLED_APPS=["accord.contrib.django"], USE_TZ=True)
    django.setup()
    from django.core.management import call_command
    from django.db import connections

    for alias in databases:
        if alias == "log":
            continue
        call_command("migrate", "accord", database=alias, verbosity=0)
        with connections[alias].cursor() as cursor:
            cursor.execute("CREATE TABLE bench (id INT PRIMARY KEY, n BIGINT)")
            cursor.execute("INSERT INTO bench VALUES (1, 0)")


def update(alias: str) -> None:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute("UPDATE bench SET n = n + 1 WHERE id = 1")


def modes(first: str, second: str) -> dict[str, Callable[[], None]]:
    from django.db import transaction

    from accord.contrib.django import tpc

    def one_plain() -> None:
        with transaction.atomic(using=first):
            update(first)

    def two_plain() -> None:
        for alias in (first, second):
            with transaction.atomic(using=alias):
                update(alias)

    def two_phase() -> None:
        with tpc.atomic(first, second):
            update(first)
            update(second)

    return {"one plain": one_plain, "two plain": two_plain, "tpc": two_phase}


def measure(funcs: dict[str, Callable[[], None]], rounds: int, per_round: int) -> dict[str, float]:
    """Median over rounds of the mean seconds per call; modes interleave within a round."""
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, func in funcs.items():
            func()  # warm
            start = time.perf_counter()
            for _ in range(per_round):
                func()
            samples[name].append((time.perf_counter() - start) / per_round)
    return {name: statistics.median(values) for name, values in samples.items()}


def separate_log(first: str, second: str) -> Callable[[], None]:
    from accord.contrib.django import tpc

    def run() -> None:
        settings.ACCORD = {"TPC": {"DECISION_LOG": "log"}}
        try:
            with tpc.atomic(first, second):
                update(first)
                update(second)
        finally:
            settings.ACCORD = {}

    return run


def report(title: str, medians: dict[str, float]) -> dict[str, float]:
    print(f"\n{title}")
    print(f"{'mode':<20}{'median ms':>10}{'tx/s':>8}{'vs two plain':>14}{'vs one plain':>14}")
    ratios = {}
    for name, seconds in medians.items():
        two = seconds / medians["two plain"]
        one = seconds / medians["one plain"]
        ratios[name] = two
        print(f"{name:<20}{seconds * 1000:>10.2f}{1 / seconds:>8.0f}{two:>13.2f}x{one:>13.2f}x")
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds; no verdict")
    args = parser.parse_args()
    rounds, per_round = (3, 30) if args.quick else (7, 150)
    with PostgresDatabases(2) as pg:
        first, second = pg.databases
        databases = {
            "default": first.django_settings(),
            "ledger": second.django_settings(),
            "log": first.django_settings(),
        }
        maria = MySQLDatabase()
        try:
            databases["maria"] = maria.create().django_settings()
        except ServiceUnavailable as exc:
            print(f"MariaDB skipped: {exc}")
        try:
            return run(databases, rounds, per_round, args.quick)
        finally:
            from django.db import connections

            connections.close_all()
            maria.drop()


def run(databases: dict[str, Any], rounds: int, per_round: int, quick: bool) -> int:
    configure(databases)
    funcs = modes("default", "ledger")
    funcs["tpc, separate log"] = separate_log("default", "ledger")
    medians = measure(funcs, rounds, per_round)
    report("PostgreSQL + PostgreSQL (one-row update on each)", medians)
    if "maria" in databases:
        mixed = measure(modes("default", "maria"), rounds, per_round)
        report("PostgreSQL + MariaDB (tpc log row in PostgreSQL)", mixed)
    vs_two = medians["tpc"] / medians["two plain"]
    vs_one = medians["tpc"] / medians["one plain"]
    ok = vs_two <= 2.0 and vs_one <= 4.0
    print(f"\ntargets: tpc <= 2.0x two plain ({vs_two:.2f}x), <= 4.0x one plain ({vs_one:.2f}x)")
    if quick:
        return 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
