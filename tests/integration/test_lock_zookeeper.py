"""ZooKeeper-only behaviour of the lock: a server that dies while the lock is held."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from accord.core.errors import LockBackendError, LockLost
from accord.core.lock import Lock, base
from accord.testing.faults import FaultProxy
from accord.testing.wire import zookeeper_request

pytest.importorskip("kazoo")


@pytest.fixture
def url(zookeeper_server: Any) -> Iterator[str]:
    yield f"zookeeper://{zookeeper_server.hosts}"
    base.clear_backend_cache()


def test_a_server_that_dies_while_held_makes_the_lock_lost(zookeeper_server: Any, url: str) -> None:
    reasons: list[str] = []
    lock = Lock(
        "job",
        url,
        ttl=0.9,
        on_lost=lambda _l, r: reasons.append(r),
        options={"session_timeout": 2.0},
    )
    lock.acquire()
    zookeeper_server.kill()
    deadline = time.monotonic() + 0.9 + 1.0
    while not lock.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.lost
    while not reasons and time.monotonic() < deadline + 1:  # callbacks run just after
        time.sleep(0.02)
    assert "SUSPENDED" in reasons[0], reasons  # the connection broke before any renewal


def test_a_chroot_in_the_url_keeps_locks_apart(url: str) -> None:
    with Lock("job", f"{url}/app-a"):
        assert Lock("job", f"{url}/app-b").acquire(timeout=1)


def test_an_expired_session_counts_as_lost(zookeeper_server: Any, url: str) -> None:
    from kazoo.client import KazooClient

    reasons: list[str] = []
    lock = Lock(
        "job",
        url,
        ttl=0.9,
        on_lost=lambda _l, r: reasons.append(r),
        options={"session_timeout": 2.0},
    )
    lock.acquire()
    backend: Any = lock.backend
    # The classic way to expire a session: attach a second client to it and close it.
    session_id, password = backend.client.client_id
    twin = KazooClient(hosts=zookeeper_server.hosts, client_id=(session_id, password))
    twin.start(timeout=10)
    twin.stop()
    twin.close()
    deadline = time.monotonic() + 0.9 / 3 + 0.5
    while not lock.lost and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lock.lost, "the expired session was not noticed within one renewal interval"
    assert reasons
    assert Lock("job", url, options={"session_timeout": 2.0}).acquire(timeout=2)


# -- issue 11: faults between the client and ZooKeeper -----------------------------------


@pytest.fixture
def proxy(zookeeper_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(zookeeper_server.port) as proxy:
        yield proxy


@pytest.fixture
def client(zookeeper_server: Any) -> Iterator[Any]:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zookeeper_server.hosts)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


def through(proxy: FaultProxy) -> str:
    return f"zookeeper://{proxy.address}"


def test_a_connection_lost_after_the_create_leaves_no_orphan_node(
    proxy: FaultProxy, client: Any, url: str
) -> None:
    client.ensure_path("/accord/locks/job")  # so the first create is the lock node's
    victim = Lock("job", through(proxy), options={"session_timeout": 4.0})
    proxy.cut_after(zookeeper_request(("create", "create2"), "/accord/locks/job/"))
    try:
        got = victim.acquire(timeout=5)
    except LockBackendError:
        got = False
    assert proxy.fired == 1
    if got:
        victim.release()
    assert Lock("job", url, options={"session_timeout": 2.0}).acquire(timeout=3)


def test_a_suspended_connection_makes_the_lock_lost_before_the_session_ends(
    proxy: FaultProxy,
) -> None:
    reasons: list[str] = []
    lock = Lock(
        "job",
        through(proxy),
        ttl=30,
        on_lost=lambda _l, r: reasons.append(r),
        options={"session_timeout": 4.0},
    )
    lock.acquire()
    proxy.pause()
    try:
        deadline = time.monotonic() + 4.0
        while not lock.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.lost
        with pytest.raises(LockLost, match="SUSPENDED"):
            lock.ensure_held()
        deadline = time.monotonic() + 1.0
        while not reasons and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reasons
        assert "SUSPENDED" in reasons[0]
    finally:
        proxy.resume()


def test_a_release_whose_delete_never_arrived_still_frees_the_lock(
    proxy: FaultProxy, url: str
) -> None:
    victim = Lock("job", through(proxy), options={"session_timeout": 4.0})
    victim.acquire()
    proxy.cut_before(zookeeper_request("delete", "/accord/locks/job/"))
    with contextlib.suppress(LockBackendError):
        victim.release()
    assert proxy.fired == 1
    assert Lock("job", url, options={"session_timeout": 2.0}).acquire(timeout=3)


def test_a_release_whose_reply_was_lost_reports_success(proxy: FaultProxy, url: str) -> None:
    victim = Lock("job", through(proxy), options={"session_timeout": 4.0})
    victim.acquire()
    proxy.cut_after(zookeeper_request("delete", "/accord/locks/job/"))
    victim.release()  # neither LockBackendError nor NotOwned: the node is gone
    assert proxy.fired == 1
    assert Lock("job", url, options={"session_timeout": 2.0}).acquire(timeout=3)


def test_the_parents_of_released_locks_are_removed(url: str, client: Any) -> None:
    for i in range(10):
        with Lock(f"job-{i}", url, options={"session_timeout": 2.0}):
            pass
    deadline = time.monotonic() + 5
    while client.get_children("/accord/locks") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get_children("/accord/locks") == []


def test_removing_parents_never_fails_a_lock_taken_meanwhile(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accord.core.lock.backends import zookeeper_session

    monkeypatch.setattr(zookeeper_session, "PARENT_IDLE", 0.0)  # remove parents at once
    errors: list[BaseException] = []

    def take_turns(connect_timeout: float) -> None:
        # a distinct option makes a distinct backend: its own ZooKeeper session
        lock = Lock(
            "job", url, options={"session_timeout": 2.0, "connect_timeout": connect_timeout}
        )
        try:
            for _ in range(40):
                with lock:
                    pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take_turns, args=(4.0 + i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


@pytest.mark.parametrize("name", [".", "..", "zookeeper", "a/b", "%2E"])
def test_names_that_are_special_to_zookeeper_are_ordinary_lock_names(url: str, name: str) -> None:
    with Lock(name, url, options={"session_timeout": 2.0}):
        assert not Lock(name, url, options={"session_timeout": 2.0}).acquire(blocking=False)
    others = {".", "..", "%2E"} - {name}
    for other in others:
        with (
            Lock(name, url, options={"session_timeout": 2.0}),
            Lock(other, url, options={"session_timeout": 2.0}) as lock,
        ):
            assert lock.held


def test_a_reservation_outlives_its_session_and_ends_at_its_ttl(url: str) -> None:
    from accord.core.lock.backends.zookeeper import ZooKeeperBackend

    caller = ZooKeeperBackend(url.removeprefix("zookeeper://"), url=url, session_timeout=2.0)
    token = caller.reserve("job", "task-1", 1.5)
    assert token is not None
    caller.close()  # the caller's session ends: the reservation stays
    reader = base.get_backend(url)
    assert isinstance(reader, ZooKeeperBackend)
    assert reader.holder("job") == ("task-1", token)
    assert reader.acquire("job", "task-2", 5.0, 0) is None
    assert reader.reserve("job", "task-2", 5.0) is None
    time.sleep(1.6)
    assert reader.holder("job") is None  # its end passed: the reader deleted it
    taken = reader.acquire("job", "task-2", 5.0, 0)
    assert taken is not None
    assert taken > token


def test_a_reservation_is_taken_over_by_a_run_with_a_greater_token(url: str) -> None:
    backend = base.get_backend(url)
    token = backend.reserve("job", "task-1", 30.0)  # type: ignore[attr-defined]
    taken = backend.take_over("job", "task-1", "task-1/run", 5.0)  # type: ignore[attr-defined]
    assert taken is not None
    assert taken > token
    assert backend.holder("job") == ("task-1/run", taken)  # type: ignore[attr-defined]
    assert backend.release("job", "task-1/run")
    assert backend.holder("job") is None  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("attempt", ["acquire", "reserve"])
def test_an_attempt_that_gave_up_is_never_read_as_the_holder(url: str, attempt: str) -> None:
    # Try-once attempts race a holder that keeps releasing; after each failed
    # attempt the loser reads the holder. A loser's node that outlived its
    # decision (the holder released just then) was read as the holder: a
    # singleton duplicate then named a run that never ran.
    from accord.core.lock.backends.zookeeper import ZooKeeperBackend

    hosts = url.removeprefix("zookeeper://")
    backends = [ZooKeeperBackend(hosts, url=url, session_timeout=4.0) for _ in range(3)]
    held: set[str] = set()
    named: list[tuple[str, str]] = []
    mutex = threading.Lock()
    stop = time.monotonic() + 5.0

    def contend(i: int) -> None:
        backend = backends[i % len(backends)]
        n = 0
        while time.monotonic() < stop:
            n += 1
            owner = f"{i}-{n}"
            if attempt == "reserve":
                token = backend.reserve("race", owner, 30.0)
            else:
                token = backend.acquire("race", owner, 30.0, 0)
            if token is not None:
                with mutex:
                    held.add(owner)
                time.sleep(0.01)
                backend.release("race", owner)
            elif (found := backend.holder("race")) is not None:
                with mutex:
                    named.append((owner, found[0]))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for backend in backends:
            backend.close()
    assert len(held) > 10, len(held)
    assert len(named) > 10, len(named)
    never_held = [(loser, holder) for loser, holder in named if holder not in held]
    assert not never_held, f"{len(never_held)} of {len(named)}: {never_held[:5]}"


@pytest.mark.slow
def test_a_take_over_whose_owner_releases_meanwhile_is_never_read_as_a_holder_it_is_not(
    url: str,
) -> None:
    # The enqueue of a singleton takes over from a run that ended, whose release
    # is on its way. The take-over's node, once the lowest, was read as the
    # holder even when the take-over then gave up: a caller got the AsyncResult
    # of a call that was never sent.
    from accord.core.lock.backends.zookeeper import ZooKeeperBackend

    hosts = url.removeprefix("zookeeper://")
    runner, caller, reader = (
        ZooKeeperBackend(hosts, url=url, session_timeout=4.0) for _ in range(3)
    )

    def race(run: str, reservation: str, delay: float) -> tuple[int | None, set[str]]:
        """Take *run*'s lock over while *run* releases it; and who readers saw hold it."""
        seen: set[str] = set()
        stop = threading.Event()
        taken: list[int | None] = []

        def read() -> None:
            while not stop.is_set():
                if (found := reader.holder("job")) is not None:
                    seen.add(found[0])

        threads = [
            threading.Thread(target=read),
            threading.Thread(
                target=lambda: taken.append(caller.take_over("job", run, reservation, 30.0))
            ),
        ]
        for thread in threads:
            thread.start()
        time.sleep(delay)
        runner.release("job", run)  # the run's release, racing the take-over
        threads[1].join()
        time.sleep(0.01)
        stop.set()
        threads[0].join()
        return taken[0], seen

    wrong = []
    try:
        for i in range(100):
            run, reservation = f"run-{i}", f"reservation-{i}"
            assert runner.acquire("job", run, 30.0, 0) is not None
            token, seen = race(run, reservation, 0.002 * (i % 5))
            if token is None and reservation in seen:
                wrong.append(i)
            elif token is not None:
                assert caller.release("job", reservation)
    finally:
        for backend in (runner, caller, reader):
            backend.close()
    assert not wrong, f"read as the holder, yet not taken over, in rounds {wrong}"
