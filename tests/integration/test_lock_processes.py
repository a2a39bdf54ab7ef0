"""The lock across processes: no lost update, rising tokens, a killed holder (real servers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from lock_cases import Case, shared_case_fixture  # noqa: F401  (the parametrized fixture)

from accord.core.lock import Lock

WORKER = Path(__file__).with_name("lock_worker.py")
PROCESSES = 4
ROUNDS = 40


def worker(case: Case, *args: str) -> subprocess.Popen[str]:
    mode, rest = args[0], args[1:]
    argv = [sys.executable, str(WORKER), mode, case.url, "job", json.dumps(case.options), *rest]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def test_concurrent_increments_under_the_lock_lose_no_update(
    shared_case: Case, tmp_path: Path
) -> None:
    lock_case = shared_case
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs = [worker(lock_case, "count", str(counter), str(ROUNDS)) for _ in range(PROCESSES)]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * PROCESSES
    assert counter.read_text() == str(PROCESSES * ROUNDS)
    # Ordered by the counter value each holder wrote, tokens must strictly rise.
    rounds = sorted(
        (int(value), int(token))
        for out in outputs
        for token, value in (line.split() for line in out.splitlines())
    )
    tokens = [token for _, token in rounds]
    assert [value for value, _ in rounds] == list(range(1, PROCESSES * ROUNDS + 1))
    assert tokens == sorted(set(tokens))


def test_tokens_keep_rising_across_client_restarts(shared_case: Case) -> None:
    lock_case = shared_case
    tokens = []
    for _ in range(3):
        proc = worker(lock_case, "hold", "1")
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        proc.kill()
        proc.wait()
        tokens.append(int(line[1]))
        # The next client waits out the killed one's lease (or session).
        with Lock("job", lock_case.url, options=lock_case.options) as lock:
            tokens.append(lock.token)
    assert tokens == sorted(set(tokens))


def test_a_holder_killed_with_sigkill_frees_the_lock_within_its_lease(shared_case: Case) -> None:
    lock_case = shared_case
    ttl = 1.0
    proc = worker(lock_case, "hold", str(ttl))
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("held")
    lease: float = lock_case.options.get("session_timeout", ttl)
    proc.kill()
    proc.wait()
    killed = time.monotonic()
    assert Lock("job", lock_case.url, options=lock_case.options).acquire(timeout=lease + 1)
    assert time.monotonic() - killed <= lease + 1


def test_a_waiter_killed_in_the_queue_does_not_block_it(shared_case: Case) -> None:
    lock_case = shared_case
    holder = worker(lock_case, "hold", "1.5")
    assert holder.stdout is not None
    assert holder.stdout.readline().startswith("held")
    waiter = worker(lock_case, "hold", "1.5")  # queues behind the holder
    time.sleep(0.5)
    waiter.kill()
    waiter.wait()
    holder.kill()
    holder.wait()
    killed = time.monotonic()
    # The holder's lease (its ttl, or the session) ends; the dead waiter must not hold it up.
    lease: float = lock_case.options.get("session_timeout", 1.5)
    assert Lock("job", lock_case.url, options=lock_case.options).acquire(timeout=lease + 3)
    assert time.monotonic() - killed <= lease + 3
