"""A ZooKeeper session and its housekeeping, for the ZooKeeper lock backend.

Failure behaviour first: :meth:`ZooKeeperSession._session` raises
:class:`~accord.core.errors.LockBackendError` when the ensemble cannot be
reached within ``connect_timeout``; nothing else here raises into a caller.
What the session owes the ensemble is done in the background, on accord's
renewer workers, as soon as it can be:

* **connection states**: kazoo's listener sees CONNECTED, SUSPENDED and LOST;
  each lease watcher is told of SUSPENDED and LOST at once (it must not
  block), with the reason text the lock guide lists. With
  ``suspended="wait"``, SUSPENDED puts the lease in doubt instead of losing
  it, and the next CONNECTED (the session survived: kazoo reports LOST
  otherwise) clears the doubt;
* **deletes owed**: a node whose delete could not be confirmed (a lost
  connection) or whose create answered after its acquire gave up is deleted
  on the next CONNECTED; after LOST there is nothing left to delete;
* **empty parents**: a lock name's parent znode is deleted once this process
  left it unused for :data:`PARENT_IDLE` seconds; ZooKeeper refuses while it
  has children, so a waiter that just arrived keeps it, and a create racing
  the delete is retried by kazoo (``makepath``).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from accord.core.errors import LockBackendError
from accord.core.lock import renewer
from accord.core.optional import import_optional
from accord.core.urls import redact

__all__ = ["LOST", "PARENT_IDLE", "SUSPENDED", "Doubt", "ZooKeeperSession"]

#: ``in_doubt(reason)`` when a lease may or may not run, ``in_doubt(None)`` once it surely does.
Doubt = Callable[[str | None], object]

_MIN_REQUEST = 0.25  # seconds a request may take even when the deadline is closer
#: Seconds a lock name must go unused (by this backend) before its empty parent znode is removed.
PARENT_IDLE = 2.0
_SUSPENDED = (
    "ZooKeeper connection SUSPENDED: the session, and the lock with it, may expire "
    "before the connection comes back"
)
_LOST = "ZooKeeper session LOST: the session expired and the lock node is gone"

#: The loss reasons of the two connection states.
SUSPENDED = (
    "ZooKeeper connection SUSPENDED: the session, and the lock with it, may expire "
    "before the connection comes back"
)
LOST = "ZooKeeper session LOST: the session expired and the lock node is gone"


class ZooKeeperSession:
    """One kazoo client (one session) and what it owes the ensemble; see the module doc."""

    def __init__(
        self,
        hosts: str,
        *,
        url: str,
        session_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        suspended: str = "lose",
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        kazoo_client = import_optional("kazoo.client", extra="zookeeper", purpose="ZooKeeper locks")
        self._exceptions = import_optional(
            "kazoo.exceptions", extra="zookeeper", purpose="ZooKeeper locks"
        )
        timeouts = import_optional(
            "kazoo.handlers.threading", extra="zookeeper", purpose="ZooKeeper locks"
        )
        self._states = import_optional(
            "kazoo.protocol.states", extra="zookeeper", purpose="ZooKeeper locks"
        ).KazooState
        self.url = redact(url)
        self.hosts = hosts
        self.connect_timeout = connect_timeout
        self.suspended = suspended
        self.client: Any = kazoo_client.KazooClient(
            hosts=hosts, timeout=session_timeout, **(client_options or {})
        )
        self.client.add_listener(self._state_changed)
        self._errors = (self._exceptions.KazooException, timeouts.KazooTimeoutError)
        self._started = False
        self._start_lock = threading.Lock()
        self._connected = threading.Event()
        # (name, owner) -> (notify loss, report doubt or None)
        self._watchers: dict[tuple[str, str], tuple[Callable[[str], object], Doubt | None]] = {}
        self._pending: set[str] = set()  # node paths to delete once connected
        self._last_use: dict[str, float] = {}  # parent path -> when this backend last used it
        self._sweeping: set[str] = set()  # parent paths with a removal scheduled
        self._mutex = threading.Lock()

    def _session(self, timeout: float | None) -> Any:
        with self._start_lock:
            if not self._started:
                # A try-once acquire (timeout 0) still gets its connection: on an
                # ensemble, opening a session is a quorum write, never instant.
                wait = self.connect_timeout if not timeout else min(timeout, self.connect_timeout)
                try:
                    with warnings.catch_warnings():
                        # The chroot is made with the first lock node (makepath); no news.
                        warnings.filterwarnings("ignore", "No chroot path exists")
                        self.client.start(timeout=max(wait, 0.05))
                except self._errors as exc:
                    self.client.stop()  # else kazoo keeps reconnecting in the background
                    raise LockBackendError(
                        f"ZooKeeper at {self.url} could not be reached within {wait:.2f} s: "
                        f"{renewer.describe(exc)}"
                    ) from exc
                self._started = True
        return self.client

    @property
    def reports_doubt(self) -> bool:
        """True with ``suspended="wait"``: SUSPENDED puts leases in doubt, not lost."""
        return self.suspended == "wait"

    def _state_changed(self, state: str) -> None:
        """kazoo's connection listener: runs on kazoo's thread, must not block."""
        with self._mutex:
            watchers = list(self._watchers.values())
        if state == self._states.CONNECTED:
            self._connected.set()
            if self._pending:
                renewer.schedule(0, self._delete_pending)
            for _, in_doubt in watchers:  # the session survived (else LOST came first)
                if in_doubt is not None:
                    in_doubt(None)
            return
        self._connected.clear()
        reason = LOST if state == self._states.LOST else SUSPENDED
        if state == self._states.LOST:
            with self._mutex:
                self._pending.clear()  # the session's nodes are gone
        for notify, in_doubt in watchers:
            if reason is SUSPENDED and in_doubt is not None:
                in_doubt(reason)
            else:
                notify(reason)

    def _delete_pending(self) -> None:
        with self._mutex:
            paths = list(self._pending)
        for path in paths:
            try:
                self._get(self.client.delete_async(path))
            except self._exceptions.NoNodeError:
                pass
            except self._errors:
                continue  # still disconnected: the next CONNECTED tries again
            with self._mutex:
                self._pending.discard(path)
            self._parent_unused(path.rsplit("/", 1)[0])

    def _get(self, request: Any, deadline: float | None = None) -> Any:
        """The answer to a kazoo async *request*, waited for until *deadline* (but at
        least one round trip's allowance) and at most ``connect_timeout``: kazoo holds
        requests while disconnected, and a renewal or an acquire with a timeout must
        not hang with it. Raises kazoo's timeout error."""
        limit = self.connect_timeout
        if deadline is not None:
            limit = min(limit, max(deadline - time.monotonic(), _MIN_REQUEST))
        return request.get(timeout=limit)

    def _wait_connected(self, deadline: float | None) -> bool:
        wait = self.connect_timeout if deadline is None else deadline - time.monotonic()
        return wait > 0 and self._connected.wait(min(wait, self.connect_timeout))

    def _delete_when_created(self, request: Any) -> None:
        if request.successful():
            self._delete_soon(request.value[0])

    def _delete_soon(self, path: str) -> None:
        """Delete *path* now if connected, else once reconnected (or the session's end does)."""
        with self._mutex:
            self._pending.add(path)
        if self._connected.is_set():
            renewer.schedule(0, self._delete_pending)

    def _parent_unused(self, base: str) -> None:
        """Remove *base* once this backend left it unused for PARENT_IDLE seconds, if empty."""
        with self._mutex:
            self._last_use[base] = time.monotonic()
            if base in self._sweeping:
                return
            self._sweeping.add(base)

        def remove() -> float | None:
            with self._mutex:
                idle = time.monotonic() - self._last_use.get(base, 0.0)
                if idle < PARENT_IDLE:
                    return PARENT_IDLE - idle  # used again meanwhile: wait on
                self._sweeping.discard(base)
                self._last_use.pop(base, None)
            if self._started and self._connected.is_set():
                self.client.delete_async(base)  # refused while it has children: fine
            return None

        renewer.schedule(PARENT_IDLE, remove)

    def close(self) -> None:
        """End the session (its nodes, i.e. locks still held, are deleted)."""
        with self._start_lock:
            if self._started:
                self._started = False
                self.client.stop()
                self.client.close()
