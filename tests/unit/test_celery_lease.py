"""The run's lease is a Lock adopted by the run: the same release semantics (memory:// backend)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from accord.contrib.celery.lease import Lease, end_run
from accord.core.errors import LockLost, NotOwned
from accord.core.lock import Lock, base, get_backend

OWNER = "task-1|run|0|abcdef"


@pytest.fixture
def backend() -> Iterator[Any]:
    """A memory:// backend of its own (closed with the others afterwards)."""
    yield get_backend(f"memory://{uuid.uuid4().hex}")
    base.clear_backend_cache()


def adopted(backend: Any, ttl: float = 5.0, **kwargs: Any) -> Lease:
    token = backend.acquire("job", OWNER, ttl, 0)
    return Lease.adopt("job", backend=backend, owner=OWNER, token=token, ttl=ttl, **kwargs)


def test_a_lease_is_a_lock() -> None:
    assert issubclass(Lease, Lock)


def test_releasing_a_lease_after_its_loss_raises_not_owned_as_a_lock_does(backend: Any) -> None:
    lease = adopted(backend)
    backend.release("job", OWNER)
    backend.acquire("job", "another", 5.0, 0)
    with pytest.raises(NotOwned):
        lease.release()
    assert backend.holder("job")[0] == "another"


def test_releasing_a_lease_twice_raises_not_owned_as_a_lock_does(backend: Any) -> None:
    lease = adopted(backend)
    lease.release()
    with pytest.raises(NotOwned):
        lease.release()


def test_the_end_of_a_run_logs_a_lost_lease_instead_of_raising(
    backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lease = adopted(backend)
    backend.release("job", OWNER)
    end_run(lease)
    assert lease.lost
    assert lease.released
    assert "ended without its lease" in caplog.text


def test_the_end_of_a_run_leaves_a_lease_the_body_released_alone(
    backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lease = adopted(backend)
    lease.release()
    backend.acquire("job", "another", 5.0, 0)
    end_run(lease)
    assert backend.holder("job")[0] == "another"
    assert not caplog.records


def test_max_lease_releases_the_lease_and_loses_it(backend: Any) -> None:
    lease = adopted(backend, ttl=0.3, max_lease=0.5)
    time.sleep(0.8)
    assert not backend.is_locked("job")
    with pytest.raises(LockLost, match="max_lease reached"):
        lease.ensure_held()


def test_a_lease_handed_on_holds_nothing_and_its_end_of_run_does_nothing(backend: Any) -> None:
    lease = adopted(backend)
    assert lease.hand_on("task-1|reserved|1|bb", 30.0) is not None
    assert lease.released
    end_run(lease)
    assert backend.holder("job")[0] == "task-1|reserved|1|bb"


def test_the_lease_keeps_the_run_owner_and_ttl(backend: Any) -> None:
    lease = adopted(backend, ttl=4.0)
    assert (lease.owner, lease.ttl, lease.name) == (OWNER, 4.0, "job")
    lease.release()
