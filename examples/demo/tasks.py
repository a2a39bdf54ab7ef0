"""Part 2: the same ``@singleton_task`` submitted many times at once; it runs once per key."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.cache import cache

from accord.core.errors import DuplicateTask
from examples.demo.narrate import progress, say
from examples.demo.services import celery_worker
from examples.shop import plugin

ACCOUNTS = 5
COPIES = 10  # submissions per account, all at once
WORKER_PROCESSES = ACCOUNTS


def _wait_for_worker(app: Any, proc: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with status {proc.returncode}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"the Celery worker did not answer a ping within {timeout:.0f} s")


def run(broker_name: str) -> None:
    from examples.shop.celery_app import app
    from examples.shop.tasks import rebuild_statement

    say("   rebuild_statement(account_id) is a @singleton_task(key=['account_id']):")
    say("   two copies for one account must never run at once. Its body takes 2 s and")
    say("   counts its runs, and any overlap, in the shop's cache.")
    say(
        f"   Starting a Celery worker: prefork pool, {WORKER_PROCESSES} processes, "
        f"{broker_name} broker."
    )
    with celery_worker(WORKER_PROCESSES) as proc:
        started = time.perf_counter()
        _wait_for_worker(app, proc)
        waited = time.perf_counter() - started
        say(f"   The worker (pid {proc.pid}) answered a ping after {waited:.1f} s.")
        cache.delete_many(
            [f"statement:{a}:{what}" for a in range(ACCOUNTS) for what in ("runs", "overlaps")]
        )
        total = ACCOUNTS * COPIES
        say(f"   Submitting {total} calls at once from {total} threads: {COPIES} per account,")
        say("   half as delay(account_id) and half as delay(account_id=...), the same key.")

        def submit(n: int) -> Any:
            account = n % ACCOUNTS
            if n % 2:
                return rebuild_statement.delay(account)
            return rebuild_statement.delay(account_id=account)

        with ThreadPoolExecutor(total) as pool:
            results = list(pool.map(submit, range(total)))
        ids = {r.id for r in results if r is not None}
        say(f"   The {total} callers got {len(ids)} distinct task ids back: duplicates were")
        say("   handed the AsyncResult of the copy already queued or running.")
        for result in progress((r for r in results if r is not None), len(results), "results"):
            result.get(timeout=60)
        runs, overlaps = _counts()
        say(f"   Runs per account, counted by the task body: {runs}; overlapping runs: {overlaps}.")
        if all(count == 1 for count in runs.values()) and not overlaps:
            say(f"   {total} submissions, {ACCOUNTS} runs: the task ran once per key.")
        else:
            say("   UNEXPECTED: some account ran more than once; see the counts above.")
        suppressed = plugin.snapshot().get("duplicate task suppressed (enqueue)", 0)
        say(
            f"   The shop's event-counter plugin saw {suppressed} duplicates suppressed at enqueue."
        )
        _worker_guard(app)


def _counts() -> tuple[dict[int, int], int]:
    runs = {a: cache.get(f"statement:{a}:runs", 0) for a in range(ACCOUNTS)}
    overlaps = sum(cache.get(f"statement:{a}:overlaps", 0) for a in range(ACCOUNTS))
    return runs, overlaps


def _worker_guard(app: Any) -> None:
    """Messages that skip the enqueue guard (as beat's send_task does) meet the worker's."""
    say()
    say("   Beat and send_task() put messages on the queue without going through the")
    say("   task's apply_async, so the enqueue guard never sees them. Sending 3 raw")
    say("   messages for account 0 at once, straight to the broker:")
    before = cache.get("statement:0:runs", 0)
    with ThreadPoolExecutor(3) as pool:
        sent = list(
            pool.map(
                lambda _: app.send_task(
                    "examples.shop.tasks.rebuild_statement", kwargs={"account_id": 0}
                ),
                range(3),
            )
        )
    outcomes = []
    for result in sent:
        try:
            result.get(timeout=60)
            outcomes.append("ran")
        except DuplicateTask:
            outcomes.append("DuplicateTask (not run)")
    runs = cache.get("statement:0:runs", 0) - before
    overlaps = _counts()[1]
    say(f"   Their outcomes: {', '.join(outcomes)}; runs: {runs}, overlapping runs: {overlaps}.")
    say("   The worker takes the key's lease before the body runs, so a duplicate that")
    say("   reached it ends as FAILURE with DuplicateTask instead of running.")
