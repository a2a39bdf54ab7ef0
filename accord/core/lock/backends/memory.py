"""``memory://[namespace]``: a lock backend inside one process, for tests and demos.

Failure behaviour first: it never fails and never reaches another process; a
lock taken here excludes only threads of this process. Leases expire after
``ttl`` like on Redis. Waiters are served strictly first come, first served;
a waiter whose ``cancel`` event is set leaves the queue within 50 ms.
Tokens start at 1 per namespace and name, and are lost when the process ends.
Each namespace (``memory://a`` and ``memory://b``) is its own set of locks;
``memory://`` is the default one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.core.errors import ConfigurationError
from accord.core.hookspecs import hookimpl
from accord.core.urls import redact

__all__ = ["MemoryBackend", "accord_lock_backend"]

_POLL = 0.05  # seconds between looks at a waiter's cancel event


@dataclass
class _State:
    owner: str | None = None
    expires: float = 0.0
    token: int = 0
    queue: deque[str] = field(default_factory=deque)


class MemoryBackend:
    """Locks in this process's memory; see the module docstring for the guarantees."""

    expires = True
    cancellable = True

    def __init__(self, url: str = "memory://") -> None:
        self.url = redact(url)
        self._cond = threading.Condition()
        self._locks: dict[str, _State] = {}

    def _free(self, state: _State) -> bool:
        return state.owner is None or state.expires <= time.monotonic()

    def acquire(
        self,
        name: str,
        owner: str,
        ttl: float,
        timeout: float | None,
        *,
        cancel: threading.Event | None = None,
    ) -> int | None:
        """Take *name* for *owner*, first come first served; None when *timeout* ran out.

        If *owner* holds it already, extend its lease and return its token.
        Returns None soon after *cancel* is set.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            state = self._locks.setdefault(name, _State())
            if state.owner == owner and not self._free(state):  # adopt: same owner, same token
                state.expires = time.monotonic() + ttl
                return state.token
            state.queue.append(owner)
            try:
                while not (state.queue[0] == owner and self._free(state)):
                    now = time.monotonic()
                    if (deadline is not None and now >= deadline) or (cancel and cancel.is_set()):
                        return None
                    wake = math.inf if deadline is None else deadline
                    if state.owner is not None:
                        wake = min(wake, state.expires)  # an expiry frees it without a notify
                    if cancel is not None:
                        wake = min(wake, now + _POLL)
                    self._cond.wait(min(max(wake - now, 0.0), threading.TIMEOUT_MAX))
                state.owner, state.expires = owner, time.monotonic() + ttl
                state.token += 1
                return state.token
            finally:
                state.queue.remove(owner)
                self._cond.notify_all()

    def release(self, name: str, owner: str) -> bool:
        """Free *name* if *owner* holds it (and its lease has not expired)."""
        with self._cond:
            state = self._locks.get(name)
            if state is None or state.owner != owner or self._free(state):
                return False
            state.owner = None
            self._cond.notify_all()
            return True

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Extend *owner*'s lease to *ttl* from now; False if it no longer holds *name*."""
        with self._cond:
            state = self._locks.get(name)
            if state is None or state.owner != owner or self._free(state):
                return False
            state.expires = time.monotonic() + ttl
            return True

    def take_over(self, name: str, owner: str, new_owner: str, ttl: float) -> int | None:
        """Pass *owner*'s lease on *name* to *new_owner* with a new token; None if not held."""
        with self._cond:
            state = self._locks.get(name)
            if state is None or state.owner != owner or self._free(state):
                return None
            state.owner, state.expires = new_owner, time.monotonic() + ttl
            state.token += 1
            return state.token

    def holder(self, name: str) -> tuple[str, int] | None:
        """The owner of the current lease on *name* and its token, or None."""
        with self._cond:
            state = self._locks.get(name)
            if state is None or state.owner is None or self._free(state):
                return None
            return state.owner, state.token

    def is_locked(self, name: str) -> bool:
        """True when a lease on *name* is current."""
        with self._cond:
            state = self._locks.get(name)
            return state is not None and not self._free(state)

    def expire(self, name: str) -> None:
        """End the current lease on *name* now, as a crashed holder's would (for tests)."""
        with self._cond:
            state = self._locks.get(name)
            if state is not None:
                state.owner = None
                self._cond.notify_all()

    def close(self) -> None:
        """Nothing to free."""


_namespaces: dict[str, MemoryBackend] = {}
_namespaces_lock = threading.Lock()


@hookimpl
def accord_lock_backend(scheme: str, url: str, options: Mapping[str, Any]) -> MemoryBackend | None:
    """Serve ``memory://[namespace]``: one backend per namespace, shared in the process."""
    if scheme != "memory":
        return None
    if options:
        raise ConfigurationError(f"memory:// locks take no options; got {sorted(options)}.")
    rest = url.partition("://")[2]
    namespace = rest.strip("/")
    if "?" in namespace or "#" in namespace:
        raise ConfigurationError(
            f"lock URL {redact(url)!r} is invalid: expected 'memory://' or 'memory://<namespace>'."
        )
    with _namespaces_lock:
        return _namespaces.setdefault(namespace, MemoryBackend(f"memory://{namespace}"))
