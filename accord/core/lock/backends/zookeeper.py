"""``zookeeper://host:port[,host:port...][/chroot]``: locks on a ZooKeeper ensemble.

Failure behaviour first:

* An ensemble that cannot be reached within ``connect_timeout`` (or the
  acquire timeout, if shorter) raises
  :class:`~accord.core.errors.LockBackendError` with kazoo's error chained;
  so does any request that fails, or gets no answer within the acquire's
  remaining time (at least 0.25 s) and ``connect_timeout`` (kazoo would
  otherwise hold it until it reconnects). A renewal gets ``ttl / 3``.
* The lease is the ZooKeeper session: the lock is an ephemeral node, and
  ZooKeeper deletes it when the holder's session expires (``session_timeout``
  after the holder stops answering, e.g. killed). ``ttl`` is not enforced
  by the server; the holder checks its node every ``ttl / 3`` seconds, and
  a node deleted by hand or a session that expired counts as lost.
* Tokens are the ``czxid`` (the transaction id that created the node):
  strictly increasing across all clients, restarts and names, for the life
  of the ensemble's data.

The recipe is ZooKeeper's classic one (as kazoo's ``Lock``): each acquire
creates an ephemeral sequential node under ``/accord/locks/<name>``; the
lowest sequence holds the lock; every other waiter watches only its
predecessor, so a release wakes exactly one waiter, in arrival order, with
no polling and no herd.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
import warnings
from collections.abc import Mapping
from typing import Any

from accord.core.errors import ConfigurationError, LockBackendError
from accord.core.hookspecs import hookimpl
from accord.core.lock.base import option, redact
from accord.core.optional import import_optional

__all__ = ["ZooKeeperBackend", "accord_lock_backend"]

_ROOT = "/accord/locks"
_PREFIX = "lock-"
_OPTIONS = {"session_timeout", "connect_timeout"}
_MIN_REQUEST = 0.25  # seconds a request may take even when the deadline is closer
_RECHECK = 2.0  # seconds between looks at the queue while a watch has not fired


def _setter(event: threading.Event) -> Any:
    return lambda _watched: event.set()


def _sequence(node: str) -> int:
    return int(node[len(_PREFIX) :])


class ZooKeeperBackend:
    """Locks on ZooKeeper; see the module docstring for the guarantees."""

    expires = False

    def __init__(
        self, hosts: str, *, url: str, session_timeout: float = 10.0, connect_timeout: float = 5.0
    ) -> None:
        kazoo_client = import_optional("kazoo.client", extra="zookeeper", purpose="ZooKeeper locks")
        self._exceptions = import_optional(
            "kazoo.exceptions", extra="zookeeper", purpose="ZooKeeper locks"
        )
        timeouts = import_optional(
            "kazoo.handlers.threading", extra="zookeeper", purpose="ZooKeeper locks"
        )
        self.url = redact(url)
        self.hosts = hosts
        self.connect_timeout = connect_timeout
        self.client: Any = kazoo_client.KazooClient(hosts=hosts, timeout=session_timeout)
        self._errors = (self._exceptions.KazooException, timeouts.KazooTimeoutError)
        self._started = False
        self._start_lock = threading.Lock()
        # (name, owner) -> (node path, session id, token) of the locks this process holds
        self._held: dict[tuple[str, str], tuple[str, int, int]] = {}
        self._mutex = threading.Lock()

    def _connected(self, timeout: float | None) -> Any:
        with self._start_lock:
            if not self._started:
                wait = (
                    self.connect_timeout if timeout is None else min(timeout, self.connect_timeout)
                )
                try:
                    with warnings.catch_warnings():
                        # The chroot is made with the first lock node (makepath); no news.
                        warnings.filterwarnings("ignore", "No chroot path exists")
                        self.client.start(timeout=max(wait, 0.05))
                except self._errors as exc:
                    self.client.stop()  # else kazoo keeps reconnecting in the background
                    raise LockBackendError(
                        f"ZooKeeper at {self.url} could not be reached within {wait:.2f} s: {exc}"
                    ) from exc
                self._started = True
        return self.client

    @staticmethod
    def base(name: str) -> str:
        """The znode under which *name*'s lock nodes live."""
        return f"{_ROOT}/{urllib.parse.quote(name, safe='')}"

    def _get(self, request: Any, deadline: float | None = None) -> Any:
        """The answer to a kazoo async *request*, waited for until *deadline* (but at
        least one round trip's allowance) and at most ``connect_timeout``: kazoo holds
        requests while disconnected, and a renewal or an acquire with a timeout must
        not hang with it. Raises kazoo's timeout error."""
        limit = self.connect_timeout
        if deadline is not None:
            limit = min(limit, max(deadline - time.monotonic(), _MIN_REQUEST))
        return request.get(timeout=limit)

    def acquire(self, name: str, owner: str, ttl: float, timeout: float | None) -> int | None:
        """Queue a node for *owner* and wait until it is the lowest; None on timeout.

        If *owner* holds it already (its node is the lowest, made by this or
        another process), return that node's token without queueing: the
        lease then stays with the session that made the node.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        client = self._connected(timeout)
        path = self._check(name, owner, pop=False)
        if path is not None:
            return self._held[name, owner][2]
        base = self.base(name)
        creating = client.create_async(
            f"{base}/{_PREFIX}",
            owner.encode(),
            ephemeral=True,
            sequence=True,
            makepath=True,
            include_data=True,
        )
        try:
            try:
                path, stat = self._get(creating, deadline)
            except self._errors:
                # The request may still succeed later: its node must not block the queue.
                creating.rawlink(self._delete_when_created)
                raise
            mine = path.rsplit("/", 1)[1]
            while True:
                children = self._get(client.get_children_async(base), deadline)
                nodes = sorted((n for n in children if n.startswith(_PREFIX)), key=_sequence)
                if mine not in nodes:  # the session expired while we waited: node gone
                    raise LockBackendError(
                        f"ZooKeeper at {self.url}: the session expired while waiting for {name!r}"
                    )
                ahead = [n for n in nodes if _sequence(n) < _sequence(mine)]
                if not ahead:
                    with self._mutex:
                        self._held[name, owner] = (path, client.client_id[0], int(stat.czxid))
                    path = None  # ours now: keep it
                    return int(stat.czxid)
                adopted = self._owned_by(f"{base}/{nodes[0]}", owner, deadline)
                if adopted is not None:  # held by the same owner elsewhere: drop our node
                    return adopted
                gone = threading.Event()
                watching = client.exists_async(f"{base}/{ahead[-1]}", watch=_setter(gone))
                if self._get(watching, deadline) is None:
                    continue
                left = _RECHECK if deadline is None else deadline - time.monotonic()
                # Watches do not fire when the session ends: look again now and then.
                woke = left > 0 and gone.wait(min(left, _RECHECK))
                if not woke and deadline is not None and time.monotonic() >= deadline:
                    return None
        except self._errors as exc:
            raise LockBackendError(
                f"ZooKeeper at {self.url} failed to acquire {name!r}: {exc}"
            ) from exc
        finally:
            if path is not None:
                self._delete_quietly(path)

    def _owned_by(self, path: str, owner: str, deadline: float | None) -> int | None:
        """The token of the node at *path* if *owner* made it, else None."""
        try:
            data, stat = self._get(self.client.get_async(path), deadline)
        except self._exceptions.NoNodeError:
            return None
        return int(stat.czxid) if data == owner.encode() else None

    def _lowest(self, name: str) -> tuple[str, str, int] | None:
        """Path, owner and token of *name*'s lowest node (the holder), or None."""
        client = self._connected(None)
        base = self.base(name)
        while True:
            try:
                children = self._get(client.get_children_async(base))
            except self._exceptions.NoNodeError:
                return None
            nodes = sorted((n for n in children if n.startswith(_PREFIX)), key=_sequence)
            if not nodes:
                return None
            try:
                data, stat = self._get(client.get_async(f"{base}/{nodes[0]}"))
            except self._exceptions.NoNodeError:
                continue  # released meanwhile: look again
            return f"{base}/{nodes[0]}", data.decode(), int(stat.czxid)

    def holder(self, name: str) -> tuple[str, int] | None:
        """The owner of *name*'s lowest node and its token, or None when free."""
        try:
            found = self._lowest(name)
        except self._errors as exc:
            raise LockBackendError(
                f"ZooKeeper at {self.url} failed to read {name!r}: {exc}"
            ) from exc
        return None if found is None else (found[1], found[2])

    def _delete_when_created(self, request: Any) -> None:
        if request.successful():
            self.client.delete_async(request.value[0])

    def _delete_quietly(self, path: str) -> None:
        # Best effort: if this fails, the node goes with the session.
        self.client.delete_async(path)

    def _check(self, name: str, owner: str, *, pop: bool) -> str | None:
        with self._mutex:
            entry = self._held.pop((name, owner), None) if pop else self._held.get((name, owner))
        if entry is None:
            return None
        path, session, _ = entry
        current = self.client.client_id  # None while disconnected: can't tell yet
        if current is not None and current[0] != session:
            return None  # a new session: the old one's ephemeral node is gone
        return path

    def release(self, name: str, owner: str) -> bool:
        """Delete *owner*'s node (waking the next waiter); False if it was gone.

        From a process that did not take it, deletes the lowest node if
        *owner* made it.
        """
        with self._mutex:
            mine = (name, owner) in self._held
        path = self._check(name, owner, pop=True) if mine else self._path_of(name, owner)
        if path is None:
            return False
        try:
            self._get(self.client.delete_async(path))
        except self._exceptions.NoNodeError:
            return False
        except self._errors as exc:
            raise LockBackendError(
                f"ZooKeeper at {self.url} failed to release {name!r}: {exc}"
            ) from exc
        return True

    def _path_of(self, name: str, owner: str) -> str | None:
        try:
            found = self._lowest(name)
        except self._errors as exc:
            raise LockBackendError(
                f"ZooKeeper at {self.url} failed to read {name!r}: {exc}"
            ) from exc
        return found[0] if found is not None and found[1] == owner else None

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Check that *owner*'s node still exists in the current session.

        From a process that did not take it, checks that *owner* made the lowest node.
        """
        with self._mutex:
            mine = (name, owner) in self._held
        if not mine:
            return self._path_of(name, owner) is not None
        path = self._check(name, owner, pop=False)
        if path is None:
            return False
        try:
            found = self._get(self.client.exists_async(path), time.monotonic() + ttl / 3)
        except self._errors as exc:
            raise LockBackendError(
                f"ZooKeeper at {self.url} failed to check {name!r}: {exc}"
            ) from exc
        return found is not None

    def is_locked(self, name: str) -> bool:
        """True when a lock node exists for *name*."""
        client = self._connected(None)
        try:
            return bool(client.exists(self.base(name)) and client.get_children(self.base(name)))
        except self._exceptions.NoNodeError:
            return False
        except self._errors as exc:
            raise LockBackendError(
                f"ZooKeeper at {self.url} failed to read {name!r}: {exc}"
            ) from exc

    def close(self) -> None:
        """End the session (its nodes, i.e. locks still held, are deleted)."""
        with self._start_lock:
            if self._started:
                self.client.stop()
                self.client.close()
                self._started = False


@hookimpl
def accord_lock_backend(
    scheme: str, url: str, options: Mapping[str, Any]
) -> ZooKeeperBackend | None:
    """Serve ``zookeeper://host:port[,host:port...][/chroot]``.

    Options: ``session_timeout`` (s, default 10: how soon a dead holder's lock
    is freed) and ``connect_timeout`` (s, default 5).
    """
    if scheme != "zookeeper":
        return None
    parts = urllib.parse.urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    valid = bool(hosts) and not parts.query
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        valid = valid and bool(name) and port.isdigit()
    if not valid:
        raise ConfigurationError(
            f"lock URL {redact(url)!r} is invalid: expected "
            "'zookeeper://host:2181[,host:2181...][/chroot]' (every host with a port, no query)."
        )
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigurationError(
            f"ZooKeeper locks do not take the options {sorted(unknown)}; "
            f"accepted: {', '.join(sorted(_OPTIONS))}."
        )
    chroot = parts.path.rstrip("/")
    return ZooKeeperBackend(
        hosts + chroot,
        url=url,
        session_timeout=option(options, "session_timeout", float, 10.0, positive=True),
        connect_timeout=option(options, "connect_timeout", float, 5.0, positive=True),
    )
