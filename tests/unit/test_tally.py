"""A Tally counts exactly across threads, keeps what ended threads counted, buckets by ``le``."""

from __future__ import annotations

import os
import threading

from accord.contrib.tally import Tally, bucket_index

THREADS = 8
EVENTS = 20_000


def _add_from_threads(
    tally: Tally, start: threading.Barrier | None = None
) -> list[threading.Thread]:
    def work() -> None:
        if start is not None:
            start.wait()
        for i in range(EVENTS):
            row = tally.row(("series", i % 2))
            row[0] += 1
            row[1] += 0.5

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    return threads


def test_counts_added_by_many_threads_at_once_are_all_kept() -> None:
    tally = Tally(2)
    threads = _add_from_threads(tally, threading.Barrier(THREADS))
    for thread in threads:
        thread.join()
    snapshot = tally.snapshot()
    assert snapshot[("series", 0)] == [THREADS * EVENTS // 2, THREADS * EVENTS / 4]
    assert snapshot[("series", 1)] == [THREADS * EVENTS // 2, THREADS * EVENTS / 4]


def test_snapshots_taken_while_threads_add_never_go_back_and_end_exact() -> None:
    tally = Tally(2)
    threads = _add_from_threads(tally)
    seen = []
    while any(t.is_alive() for t in threads):
        seen.append(sum(row[0] for row in tally.snapshot().values()))
    for thread in threads:
        thread.join()
    seen.append(sum(row[0] for row in tally.snapshot().values()))
    assert seen == sorted(seen)
    assert seen[-1] == THREADS * EVENTS


def test_rows_of_ended_threads_are_folded_into_one_and_still_counted() -> None:
    tally = Tally(2)
    for _ in range(3):
        for thread in _add_from_threads(tally):
            thread.join()
    tally.row(("series", 0))[0] += 1  # this thread registers: the ended ones are folded
    assert len(tally._threads) == 1
    assert tally.snapshot()[("series", 0)][0] == 3 * THREADS * EVENTS // 2 + 1


def test_a_value_on_a_bound_falls_in_that_bound_s_bucket() -> None:
    bounds = (0.001, 0.01)
    assert bucket_index(bounds, 0.0005) == 0
    assert bucket_index(bounds, 0.001) == 0  # le="0.001" counts it
    assert bucket_index(bounds, 0.002) == 1
    assert bucket_index(bounds, 5.0) == 2  # +Inf


def test_a_child_forked_while_another_thread_holds_the_lock_can_still_add() -> None:
    tally = Tally(1)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with tally._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: a new thread registers its rows, which takes the lock
            code = 1
            try:
                adder = threading.Thread(target=lambda: tally.row("k").__setitem__(0, 1))
                adder.start()
                adder.join(5)
                code = 0 if not adder.is_alive() and tally.snapshot()["k"] == [1] else 1
            finally:
                os._exit(code)
    finally:
        release.set()
        holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
