"""The backends the lock fault matrix runs on: how to make locks and aim faults at them.

Failure behaviour first: making a target starts a
:class:`~accord.testing.faults.FaultProxy` (:class:`OSError` if it cannot
listen) or wraps a backend in :class:`~accord.testing.matrix.CallFaults`;
close the target after the case. See :mod:`accord.testing.lock_matrix`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.core.errors import LockBackendError
from accord.core.lock import Lock
from accord.core.lock.base import LockBackend
from accord.testing.faults import FaultProxy, Match
from accord.testing.matrix import CallFaults
from accord.testing.wire import redis_command, zookeeper_request

__all__ = [
    "NAME",
    "SLACK",
    "LockTarget",
    "file_target",
    "memory_target",
    "plain_target",
    "redis_target",
    "zookeeper_target",
]

#: The name of the lock every case uses.
NAME = "matrix"
#: Seconds of scheduling noise allowed on top of every allowance (a shared 2-core machine).
SLACK = 0.5


@dataclass
class LockTarget:
    """One backend under the matrix.

    ``make(victim, on_lost)`` makes a :class:`~accord.core.lock.Lock` named
    :data:`NAME`: the victim's requests pass the fault injector, the others'
    do not. ``aim(operation, fault, seconds)`` arms a one-shot fault on the
    victim's next request of *operation*; ``fired()`` counts the faults that
    fired; ``heal()`` undoes them. ``lease`` is how long the lock may stay
    taken after its holder failed (``ttl``; the session timeout on
    ZooKeeper); ``pause`` how long a pause lasts.
    """

    kind: str
    ttl: float
    lease: float
    make: Callable[[bool, Callable[..., object]], Lock]
    aim: Callable[[str, str, float], None]
    fired: Callable[[], int]
    heal: Callable[[], None]
    close: Callable[[], None] = lambda: None
    pause: float = 0.0

    def __post_init__(self) -> None:
        if not self.pause:  # well past the lease, and past it by more than the slack
            self.pause = max(self.lease * 1.5, self.lease + SLACK + 0.4)


def _proxied(
    kind: str,
    proxy: FaultProxy,
    victim_url: str,
    url: str,
    options: dict[str, Any],
    requests: dict[str, Match],
    ttl: float,
    lease: float,
    prepare: Callable[[str], object] = lambda operation: None,
) -> LockTarget:
    def make(victim: bool, on_lost: Callable[..., object]) -> Lock:
        return Lock(NAME, victim_url if victim else url, ttl=ttl, on_lost=on_lost, options=options)

    def aim(operation: str, fault: str, seconds: float) -> None:
        prepare(operation)
        match = requests[operation]
        if fault == "cut-before":
            proxy.cut_before(match)
        elif fault == "cut-after":
            proxy.cut_after(match)
        else:
            proxy.pause_on(match, seconds=seconds)

    return LockTarget(
        kind, ttl, lease, make, aim, lambda: proxy.fired, proxy.heal, close=proxy.close
    )


def redis_target(port: int, *, ttl: float = 0.6, **options: Any) -> LockTarget:
    """Redis on *port*, the victim behind a fault proxy. Close it after the case."""
    from accord.core.lock.backends import redis_scripts

    proxy = FaultProxy(port).start()
    scripts = {
        "acquire": redis_scripts.ACQUIRE,
        "renew": redis_scripts.RENEW,
        "release": redis_scripts.RELEASE,
    }
    sha = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in scripts.items()}
    requests: dict[str, Match] = {
        "acquire": redis_command("EVALSHA", sha["acquire"]),
        "renew": redis_command("EVALSHA", sha["renew"]),
        "release": redis_command("EVALSHA", sha["release"]),
        "wait": redis_command("BLPOP"),
        "hand-over": redis_command("EVALSHA", sha["release"]),
    }
    return _proxied(
        "redis",
        proxy,
        f"redis://{proxy.address}/0",
        f"redis://127.0.0.1:{port}/0",
        options,
        requests,
        ttl,
        ttl,
    )


def zookeeper_target(
    port: int, *, ttl: float = 0.6, session_timeout: float = 2.0, **options: Any
) -> LockTarget:
    """ZooKeeper on *port*, the victim's session behind a fault proxy. Close it after the case."""
    proxy = FaultProxy(port).start()
    under = f"/accord/locks/{NAME}/"
    requests: dict[str, Match] = {
        "acquire": zookeeper_request(("create", "create2"), under),
        "renew": zookeeper_request("exists", under),
        "release": zookeeper_request("delete", under),
        "wait": zookeeper_request("exists", under),
        "hand-over": zookeeper_request("delete", under),
    }
    options = {"session_timeout": session_timeout, **options}
    url = f"zookeeper://127.0.0.1:{port}"

    def prepare(operation: str) -> None:
        if operation != "acquire":
            return
        from kazoo.client import KazooClient  # the parent exists: the fault hits the lock node

        client = KazooClient(hosts=f"127.0.0.1:{port}")
        client.start(timeout=10)
        try:
            client.ensure_path(under.rstrip("/"))
        finally:
            client.stop()
            client.close()

    return _proxied(
        "zookeeper",
        proxy,
        f"zookeeper://{proxy.address}",
        url,
        options,
        requests,
        ttl,
        session_timeout,
        prepare,
    )


def _in_process(
    kind: str, victim: CallFaults, other: LockBackend, ttl: float, lease: float
) -> LockTarget:
    methods = {
        "acquire": "acquire",
        "renew": "renew",
        "release": "release",
        "wait": "acquire",
        "hand-over": "release",
    }

    def make(is_victim: bool, on_lost: Callable[..., object]) -> Lock:
        backend: Any = victim if is_victim else other
        return Lock(NAME, backend=backend, ttl=ttl, on_lost=on_lost)

    def aim(operation: str, fault: str, seconds: float) -> None:
        victim.arm(methods[operation], fault, seconds=seconds)

    return LockTarget(kind, ttl, lease, make, aim, lambda: victim.fired, victim.heal)


def _injected(what: str) -> LockBackendError:
    return LockBackendError(what)


def memory_target(namespace: str, *, ttl: float = 0.6) -> LockTarget:
    """The memory backend of *namespace*; the victim's calls go through CallFaults."""
    from accord.core.lock.backends.memory import MemoryBackend

    backend = MemoryBackend(f"memory://{namespace}")
    return _in_process("memory", CallFaults(backend, error=_injected), backend, ttl, ttl)


def file_target(directory: str | Path, *, ttl: float = 0.6) -> LockTarget:
    """File locks in *directory*; the victim (its own backend object, as another process
    would have) goes through CallFaults. A failed release is retried after 0.5 s: the lease."""
    from accord.core.lock.backends.file import FileBackend

    victim = CallFaults(FileBackend(str(directory)), error=_injected)
    return _in_process("file", victim, FileBackend(str(directory)), ttl, 1.0)


def plain_target(url: str, options: dict[str, Any], ttl: float, lease: float) -> LockTarget:
    """A target without fault injection, for clients in other processes."""

    def make(victim: bool, on_lost: Callable[..., object]) -> Lock:
        return Lock(NAME, url, ttl=ttl, on_lost=on_lost, options=options)

    return LockTarget("process", ttl, lease, make, lambda *a: None, lambda: 1, lambda: None)
