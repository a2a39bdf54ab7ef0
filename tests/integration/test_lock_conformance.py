"""One behaviour of accord's lock per test, the same on every backend (real servers)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import types
from typing import Any

import pytest
from lock_cases import (  # noqa: F401  (fixtures)
    Case,
    expiring_case_fixture,
    lock_case_fixture,
    owner_case_fixture,
    shared_owner_case_fixture,
)

from accord.core.errors import LockError, LockLost, LockTimeout, NotOwned
from accord.core.lock import AsyncLock, Lock
from accord.core.lock.base import OwnerAwareBackend, get_backend
from accord.testing.plugins import registered

SLACK = 0.15  # scheduling noise on a shared 2-core machine


def make(case: Case, name: str = "job", **kwargs: Any) -> Lock:
    return Lock(name, case.url, options=case.options, **kwargs)


def test_acquire_then_release_frees_the_lock(lock_case: Case) -> None:
    lock = make(lock_case)
    assert lock.acquire()
    assert lock.held
    assert lock.locked()
    lock.release()
    assert not lock.held
    assert not lock.locked()


def test_tokens_strictly_increase_across_acquisitions_and_lock_objects(lock_case: Case) -> None:
    tokens = []
    for _ in range(3):
        for lock in (make(lock_case), make(lock_case)):
            with lock:
                tokens.append(lock.token)
    assert tokens == sorted(set(tokens))
    assert len(tokens) == 6


def test_a_second_holder_is_kept_out(lock_case: Case) -> None:
    with make(lock_case):
        assert not make(lock_case).acquire(blocking=False)


def test_different_names_do_not_exclude_each_other(lock_case: Case) -> None:
    with make(lock_case, "a"), make(lock_case, "b/c d:é") as other:
        assert other.held


def test_a_timeout_of_0_2_s_returns_after_0_2_s(lock_case: Case) -> None:
    with make(lock_case):
        waiter = make(lock_case)
        started = time.monotonic()
        assert not waiter.acquire(timeout=0.2)
        elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 0.2 + SLACK


def test_with_raises_lock_timeout_when_busy(lock_case: Case) -> None:
    with make(lock_case), pytest.raises(LockTimeout, match="'job'"), make(lock_case, timeout=0.1):
        pass


def test_a_blocked_waiter_wakes_promptly_when_the_holder_releases(lock_case: Case) -> None:
    holder = make(lock_case)
    holder.acquire()
    woke: list[float] = []

    def wait() -> None:
        waiter = make(lock_case)
        waiter.acquire(timeout=10)
        woke.append(time.monotonic())
        waiter.release()

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)
    released = time.monotonic()
    holder.release()
    thread.join(10)
    assert woke
    assert woke[0] - released < 0.1


def test_waiters_are_served_in_arrival_order(lock_case: Case) -> None:
    holder = make(lock_case)
    holder.acquire()
    order: list[int] = []

    def wait(i: int) -> None:
        with make(lock_case, timeout=20):
            order.append(i)

    threads = []
    for i in range(4):
        threads.append(threading.Thread(target=wait, args=(i,)))
        threads[-1].start()
        time.sleep(0.15)  # each waiter queued before the next arrives
    holder.release()
    for thread in threads:
        thread.join(20)
    assert order == [0, 1, 2, 3]


def test_release_by_a_non_holder_raises_not_owned(lock_case: Case) -> None:
    with pytest.raises(NotOwned):
        make(lock_case).release()


def test_release_twice_raises_not_owned(lock_case: Case) -> None:
    lock = make(lock_case)
    lock.acquire()
    lock.release()
    with pytest.raises(NotOwned):
        lock.release()


def test_acquire_again_by_the_holder_is_an_error_not_a_deadlock(lock_case: Case) -> None:
    with make(lock_case) as lock, pytest.raises(LockError, match="not reentrant"):
        lock.acquire()


def test_a_renewed_lease_outlives_five_ttls(lock_case: Case) -> None:
    with make(lock_case, ttl=0.4) as lock:
        time.sleep(2.0)
        lock.ensure_held()
        assert not make(lock_case).acquire(blocking=False)


def test_deleting_the_lease_by_hand_is_noticed_within_one_renewal(lock_case: Case) -> None:
    reasons: list[str] = []
    lock = make(lock_case, ttl=0.6, on_lost=lambda lock, reason: reasons.append(reason))
    lock.acquire()
    lock_case.steal("job")
    time.sleep(0.6 / 3 + SLACK)
    assert lock.lost
    assert reasons
    with pytest.raises(LockLost, match="'job'"):
        lock.ensure_held()
    with pytest.raises(NotOwned):
        lock.release()


def test_release_after_a_loss_leaves_the_new_holder_alone(lock_case: Case) -> None:
    lock = make(lock_case, ttl=0.6)
    lock.acquire()
    lock_case.steal("job")
    newcomer = make(lock_case)
    assert newcomer.acquire(timeout=2)
    with pytest.raises(NotOwned):
        lock.release()
    assert newcomer.locked()
    newcomer.release()


def test_leaving_with_after_a_loss_raises_lock_lost(lock_case: Case) -> None:
    lock = make(lock_case, ttl=0.6)

    def lose_it() -> None:
        with lock:
            lock_case.steal("job")
            time.sleep(0.4)

    with pytest.raises(LockLost):
        lose_it()


def test_without_renewal_the_lease_expires_after_ttl(expiring_case: Case) -> None:
    lock_case = expiring_case
    reasons: list[str] = []
    lock = make(
        lock_case, ttl=0.3, renew=False, on_lost=lambda lock, reason: reasons.append(reason)
    )
    lock.acquire()
    started = time.monotonic()
    assert make(lock_case).acquire(timeout=2)
    assert time.monotonic() - started < 0.3 + SLACK
    time.sleep(0.05)  # the expiry notice runs on the renewer thread, at the same moment
    assert reasons == ["expired"]


def test_observer_hooks_see_acquired_released_and_lost(lock_case: Case) -> None:
    events: list[tuple[str, Any]] = []
    plugin = types.SimpleNamespace(
        accord_lock_acquired=lambda name, token, wait: events.append(("acquired", wait)),
        accord_lock_released=lambda name, token, held: events.append(("released", held)),
        accord_lock_lost=lambda name, reason: events.append(("lost", reason)),
    )
    with registered(plugin):
        with make(lock_case, ttl=0.6):
            time.sleep(0.05)
        lock = make(lock_case, ttl=0.6)
        lock.acquire()
        lock_case.steal("job")
        time.sleep(0.6 / 3 + SLACK)
    assert [kind for kind, _ in events] == ["acquired", "released", "acquired", "lost"]
    assert events[1][1] >= 0.05


def test_async_lock_excludes_and_times_out(lock_case: Case) -> None:
    async def scenario() -> float:
        async with AsyncLock("job", lock_case.url, options=lock_case.options) as lock:
            assert lock.held
            other = AsyncLock("job", lock_case.url, options=lock_case.options)
            started = time.monotonic()
            assert not await other.acquire(timeout=0.2)
            return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.2 + SLACK
    assert not make(lock_case).locked()


def test_a_waiter_that_gives_up_does_not_block_those_behind_it(lock_case: Case) -> None:
    holder = make(lock_case)
    holder.acquire()
    quitter = threading.Thread(target=lambda: make(lock_case).acquire(timeout=0.3))
    quitter.start()
    time.sleep(0.1)
    got: list[bool] = []
    patient = threading.Thread(target=lambda: got.append(make(lock_case).acquire(timeout=5)))
    patient.start()
    quitter.join()
    time.sleep(0.1)
    released = time.monotonic()
    holder.release()
    patient.join(10)
    assert got == [True]
    assert time.monotonic() - released < 0.5


# -- owner-aware backends: a lease addressed by a caller-chosen owner, from anywhere --------


def other_connection(case: Case) -> OwnerAwareBackend:
    """A second backend object on the same server: another connection (or ZooKeeper session)."""
    other = get_backend(case.url, {**case.options, "connect_timeout": 4.5})
    assert isinstance(other, OwnerAwareBackend)
    return other


def owner_backend(case: Case) -> OwnerAwareBackend:
    backend = get_backend(case.url, case.options)
    assert isinstance(backend, OwnerAwareBackend)
    return backend


def test_holder_names_the_owner_and_its_token(owner_case: Case) -> None:
    backend = owner_backend(owner_case)
    assert backend.holder("job") is None
    token = backend.acquire("job", "task-1", 5.0, 0)
    assert backend.holder("job") == ("task-1", token)
    backend.release("job", "task-1")
    assert backend.holder("job") is None


def test_the_same_owner_acquiring_again_adopts_the_lease_and_its_token(owner_case: Case) -> None:
    backend = owner_backend(owner_case)
    token = backend.acquire("job", "task-1", 5.0, 0)
    assert backend.acquire("job", "task-1", 5.0, 0) == token
    assert backend.holder("job") == ("task-1", token)


def test_another_owner_is_kept_out_while_the_owner_holds(owner_case: Case) -> None:
    backend = owner_backend(owner_case)
    token = backend.acquire("job", "task-1", 5.0, 0)
    assert backend.acquire("job", "task-2", 5.0, 0) is None
    assert backend.holder("job") == ("task-1", token)


def test_adopting_extends_an_expiring_lease(expiring_case: Case) -> None:
    backend = owner_backend(expiring_case)
    backend.acquire("job", "task-1", 0.3, 0)
    backend.acquire("job", "task-1", 5.0, 0)
    time.sleep(0.3 + SLACK)
    assert backend.holder("job") is not None


def test_a_lease_taken_elsewhere_is_adopted_renewed_and_released_by_owner(
    shared_owner_case: Case,
) -> None:
    first, second = owner_backend(shared_owner_case), other_connection(shared_owner_case)
    token = first.acquire("job", "task-1", 5.0, 0)
    assert second.acquire("job", "task-1", 5.0, 0) == token
    assert second.renew("job", "task-1", 5.0)
    assert second.release("job", "task-1")
    assert first.holder("job") is None
    assert first.acquire("job", "task-2", 5.0, 0) > token  # type: ignore[operator]


def test_release_from_elsewhere_by_another_owner_changes_nothing(shared_owner_case: Case) -> None:
    first, second = owner_backend(shared_owner_case), other_connection(shared_owner_case)
    token = first.acquire("job", "task-1", 5.0, 0)
    assert not second.release("job", "task-2")
    assert not second.renew("job", "task-2", 5.0)
    assert second.holder("job") == ("task-1", token)


def test_take_over_passes_the_lease_to_the_new_owner_with_a_greater_token(
    owner_case: Case,
) -> None:
    backend = owner_backend(owner_case)
    token = backend.acquire("job", "task-1", 5.0, 0)
    taken = backend.take_over("job", "task-1", "task-1/run", 5.0)
    assert taken is not None
    assert token is not None
    assert taken > token
    assert backend.holder("job") == ("task-1/run", taken)
    assert not backend.release("job", "task-1")
    assert backend.release("job", "task-1/run")


def test_take_over_from_an_owner_that_does_not_hold_changes_nothing(owner_case: Case) -> None:
    backend = owner_backend(owner_case)
    assert backend.take_over("job", "task-1", "task-2", 5.0) is None
    assert backend.holder("job") is None
    token = backend.acquire("job", "task-1", 5.0, 0)
    assert backend.take_over("job", "task-9", "task-2", 5.0) is None
    assert backend.holder("job") == ("task-1", token)


def test_take_over_works_on_a_lease_taken_elsewhere(shared_owner_case: Case) -> None:
    first, second = owner_backend(shared_owner_case), other_connection(shared_owner_case)
    token = first.acquire("job", "task-1", 5.0, 0)
    taken = second.take_over("job", "task-1", "task-1/run", 5.0)
    assert taken is not None
    assert token is not None
    assert taken > token
    assert first.holder("job") == ("task-1/run", taken)
    assert not first.renew("job", "task-1", 5.0)
    assert second.release("job", "task-1/run")
    assert first.holder("job") is None


def test_the_file_backend_cannot_hand_a_lease_to_another_process(tmp_path: Any) -> None:
    assert not isinstance(get_backend(f"file://{tmp_path}"), OwnerAwareBackend)


def test_a_forked_child_makes_its_own_backend_and_leaves_the_parents_alone(tmp_path: Any) -> None:
    url = f"file://{tmp_path}"
    parent = get_backend(url)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it got a backend of its own
        os._exit(0 if get_backend(url) is not parent else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert get_backend(url) is parent
