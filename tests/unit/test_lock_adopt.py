"""``Lock.adopt``: a lock object that holds an acquisition made elsewhere (memory:// backend)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from accord.core.errors import ConfigurationError, LockLost, NotOwned
from accord.core.lock import AsyncLock, Lock, base, get_backend


@pytest.fixture(autouse=True)
def fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


@pytest.fixture
def backend() -> Any:
    return get_backend(f"memory://{uuid.uuid4().hex}")


def taken(backend: Any, owner: str = "elsewhere|1", ttl: float = 5.0) -> int:
    token = backend.acquire("job", owner, ttl, 0)
    assert token is not None
    return int(token)


def test_an_adopted_lock_holds_with_the_given_token(backend: Any) -> None:
    token = taken(backend)
    lock = Lock.adopt("job", backend=backend, owner="elsewhere|1", token=token)
    assert lock.held
    assert lock.token == token
    lock.ensure_held()


def test_an_adopted_lock_releases_the_given_owners_acquisition(backend: Any) -> None:
    lock = Lock.adopt("job", backend=backend, owner="elsewhere|1", token=taken(backend))
    lock.release()
    assert not backend.is_locked("job")


def test_an_adopted_lock_keeps_the_lease_renewed(backend: Any) -> None:
    lock = Lock.adopt("job", backend=backend, owner="elsewhere|1", token=taken(backend, ttl=0.3),
                      ttl=0.3)  # fmt: skip
    time.sleep(0.8)
    assert lock.held
    assert backend.holder("job")[0] == "elsewhere|1"
    lock.release()


def test_releasing_an_adopted_lock_after_its_loss_raises_not_owned(backend: Any) -> None:
    lock = Lock.adopt("job", backend=backend, owner="elsewhere|1", token=taken(backend))
    assert backend.release("job", "elsewhere|1")  # someone frees it behind its back
    assert backend.acquire("job", "another|2", 5.0, 0) is not None
    with pytest.raises(NotOwned, match="no longer held"):
        lock.release()
    assert backend.holder("job")[0] == "another|2"  # left alone
    assert lock.lost


def test_a_lost_adopted_lock_is_noticed_by_its_renewal(backend: Any) -> None:
    lock = Lock.adopt("job", backend=backend, owner="elsewhere|1", token=taken(backend, ttl=0.3),
                      ttl=0.3)  # fmt: skip
    backend.release("job", "elsewhere|1")
    time.sleep(0.5)
    with pytest.raises(LockLost):
        lock.ensure_held()


def test_adopting_an_acquisition_that_is_not_there_loses_it_at_the_first_renewal(
    backend: Any,
) -> None:
    lock = Lock.adopt("job", backend=backend, owner="nobody|0", token=1, ttl=0.3)
    time.sleep(0.5)
    assert lock.lost
    with pytest.raises(NotOwned):
        lock.release()


@pytest.mark.parametrize(("owner", "token"), [("", 1), (None, 1), ("o|1", "1"), ("o|1", True)])
def test_adopt_refuses_a_missing_owner_or_a_token_that_is_not_an_integer(
    backend: Any, owner: Any, token: Any
) -> None:
    with pytest.raises(ConfigurationError, match=r"owner=|token="):
        Lock.adopt("job", backend=backend, owner=owner, token=token)


def test_async_lock_adopts_the_same_way(backend: Any) -> None:
    token = taken(backend)

    async def adopt_and_release() -> None:
        lock = AsyncLock.adopt("job", backend=backend, owner="elsewhere|1", token=token)
        assert lock.held
        assert lock.token == token
        await lock.release()

    asyncio.run(adopt_and_release())
    assert not backend.is_locked("job")
