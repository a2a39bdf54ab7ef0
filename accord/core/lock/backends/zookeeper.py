"""``zookeeper://[user:password@]host:port[,host:port...][/chroot]``: locks on a ZooKeeper ensemble.

Failure behaviour first:

* An ensemble that cannot be reached within ``connect_timeout`` (or the
  acquire timeout, if shorter and not 0: a try-once acquire still waits for
  its first connection) raises
  :class:`~accord.core.errors.LockBackendError` with kazoo's error chained;
  so does any request that fails, or gets no answer within the acquire's
  remaining time (at least 0.25 s) and ``connect_timeout`` (kazoo would
  otherwise hold it until it reconnects). A renewal gets ``ttl / 3``.
* The lease is the ZooKeeper session: the lock is an ephemeral node, and
  ZooKeeper deletes it when the holder's session expires (``session_timeout``
  after the holder stops answering, e.g. killed). ``ttl`` is not enforced
  by the server; the holder checks its node every ``ttl / 3`` seconds.
* The connection state is watched. **SUSPENDED** (the connection was lost;
  the session, and the lock, may expire before it comes back) makes every
  lock of the session lost at once, with the reason ``"ZooKeeper connection
  SUSPENDED: ..."``; **LOST** (the session expired: the nodes are gone)
  with ``"ZooKeeper session LOST: ..."``. A lost lock's node is then deleted
  as soon as the connection is back, so it blocks no one. With the option
  ``suspended="wait"``, SUSPENDED only puts the lock **in doubt** (``held``
  is False, ``ensure_held()`` raises) until the connection comes back: the
  lock is then held again if the session survived (a leader election, a
  member that died), and lost if it did not, or if no renewal was confirmed
  for ``ttl`` seconds meanwhile.
* Credentials in the URL are used: digest authentication, and every node
  the backend creates gets an ACL for that user alone, so no one else can
  delete a holder's node or queue under its lock. Without them the nodes
  are open to anyone who can reach ZooKeeper (``world:anyone``).
* A connection lost between a request and its answer is recovered: a create
  is found again by a unique part of its node name (never left behind to
  block the queue), a delete is sent again after the reconnect (its node is
  never left behind either). A delete that cannot be confirmed within
  ``connect_timeout`` raises ``LockBackendError``; it is done when the
  connection comes back, or by the session's end.
* Tokens are the ``czxid`` (the transaction id that created the node):
  strictly increasing across all clients, restarts and names, for the life
  of the ensemble's data.

The recipe is ZooKeeper's classic one (as kazoo's ``Lock``): each acquire
creates an ephemeral sequential node under ``/accord/locks/<name>``; the
lowest sequence holds the lock; every other waiter watches only its
predecessor, so a release wakes exactly one waiter, in arrival order, with
no polling and no herd. Names are %-escaped (``.`` and ``..`` too). A lock's
parent znode is removed once this process left the name unused for a while
and it has no children (ZooKeeper refuses to delete one that has: a waiter
that just arrived keeps it); see
:mod:`~accord.core.lock.backends.zookeeper_session`.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from accord.core.errors import ConfigurationError, LockBackendError
from accord.core.hookspecs import hookimpl
from accord.core.lock import renewer
from accord.core.lock.backends.zookeeper_session import (
    PARENT_IDLE,
    SUSPENDED,
    Doubt,
    ZooKeeperSession,
)
from accord.core.lock.base import option
from accord.core.urls import redact
from accord.core.zookeeper_url import parse_zookeeper_url

__all__ = ["PARENT_IDLE", "ZooKeeperBackend", "accord_lock_backend"]

_ROOT = "/accord/locks"
_PREFIX = "lock-"
_OPTIONS = {"session_timeout", "connect_timeout", "suspended"}
_SUSPENDED_POLICIES = ("lose", "wait")
_RECHECK = 2.0  # seconds between looks at the queue while a watch has not fired
_POLL = 0.05  # seconds between looks at a waiter's cancel event


def _setter(event: threading.Event) -> Any:
    return lambda _watched: event.set()


def _sequence(node: str) -> int:
    return int(node[-10:])  # ZooKeeper's sequence suffix: 10 digits


_ENDS = "@"  # in a reservation's node name: its end, wall clock ms, before the sequence


def _expired(node: str) -> bool:
    """True when *node* is a reservation whose end has passed."""
    head, sep, rest = node.rpartition(_ENDS)
    if not sep or not head:
        return False
    ends = rest.partition("-")[0]
    return ends.isdigit() and int(ends) <= time.time() * 1000


def _mark(owner: str) -> str:
    """12 hex digits that every node of *owner* starts with, after ``lock-``."""
    return hashlib.sha1(owner.encode()).hexdigest()[:12]


class ZooKeeperBackend(ZooKeeperSession):
    """Locks on ZooKeeper; see the module docstring for the guarantees."""

    expires = False
    cancellable = True

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
        super().__init__(
            hosts,
            url=url,
            session_timeout=session_timeout,
            connect_timeout=connect_timeout,
            suspended=suspended,
            client_options=client_options,
        )
        # (name, owner) -> (node path, session id, token) of the locks this process holds
        self._held: dict[tuple[str, str], tuple[str, int, int]] = {}

    def watch_lease(
        self,
        name: str,
        owner: str,
        notify: Callable[[str], object],
        *,
        in_doubt: Doubt | None = None,
    ) -> None:
        """Call ``notify(reason)`` (on kazoo's thread; it must not block) when the
        connection of *owner*'s lock on *name* is SUSPENDED or its session LOST.

        With ``suspended="wait"`` and *in_doubt* given, SUSPENDED calls
        ``in_doubt(reason)`` instead, and the reconnection ``in_doubt(None)``.
        """
        if not self.reports_doubt:
            in_doubt = None
        with self._mutex:
            if (name, owner) in self._held:
                self._watchers[name, owner] = (notify, in_doubt)
        if not self._connected.is_set() and self._started:
            (in_doubt or notify)(SUSPENDED)

    @staticmethod
    def base(name: str) -> str:
        """The znode under which *name*'s lock nodes live."""
        quoted = urllib.parse.quote(name, safe="")
        if quoted in (".", ".."):  # not valid znode names; quote() never yields %2E itself
            quoted = quoted.replace(".", "%2E")
        return f"{_ROOT}/{quoted}"

    def _fail(self, what: str, exc: BaseException) -> LockBackendError:
        return LockBackendError(
            f"ZooKeeper at {self.url} failed to {what}: {renewer.describe(exc)}"
        )

    # -- acquire -----------------------------------------------------------------------

    def acquire(
        self,
        name: str,
        owner: str,
        ttl: float,
        timeout: float | None,
        *,
        cancel: threading.Event | None = None,
    ) -> int | None:
        """Queue a node for *owner* and wait until it is the lowest; None on timeout.

        If *owner* holds it already (its node is the lowest, made by this or
        another process), return that node's token without queueing: the
        lease then stays with the session that made the node. Returns None
        soon after *cancel* is set (its node deleted).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        client = self._session(timeout)
        if self._check(name, owner, pop=False) is not None:
            return self._held[name, owner][2]
        base = self.base(name)
        with self._mutex:
            self._last_use[base] = time.monotonic()
        # lock-<owner's mark><this attempt's>-<sequence>: the attempt's part finds
        # the node again after a lost reply; the mark spots the owner's other nodes.
        prefix = f"{base}/{_PREFIX}{_mark(owner)}{secrets.token_hex(4)}-"
        path: str | None = None
        lost = (self._exceptions.ConnectionLoss, self._exceptions.SessionExpiredError)
        try:
            node, stat = self._create(client, base, prefix, owner, deadline)
            path = node  # deleted on the way out unless we hold it
            while True:
                try:
                    children = self._get(client.get_children_async(base), deadline)
                    nodes = sorted((n for n in children if n.startswith(_PREFIX)), key=_sequence)
                    mine = node.rsplit("/", 1)[1]
                    if mine not in nodes:  # the session expired while we waited: queue again
                        path = None
                        node, stat = self._create(client, base, prefix, owner, deadline)
                        path = node
                        continue
                    ahead = [n for n in nodes if _sequence(n) < _sequence(mine)]
                    if ahead and _expired(ahead[0]):
                        self._purge(client, f"{base}/{ahead[0]}", deadline)
                        continue
                    if not ahead:
                        with self._mutex:
                            self._held[name, owner] = (node, client.client_id[0], int(stat.czxid))
                        path = None  # ours now: keep it
                        return int(stat.czxid)
                    lowest = f"{base}/{nodes[0]}"
                    with self._mutex:
                        leaving = lowest in self._pending  # our own failed attempt's, going
                    if nodes[0].startswith(f"{_PREFIX}{_mark(owner)}") and not leaving:
                        adopted = self._owned_by(lowest, owner, deadline)
                        if adopted is not None:  # held by the same owner: drop our node
                            return adopted
                    if timeout == 0 or not self._wait_gone(
                        client, f"{base}/{ahead[-1]}", deadline, cancel
                    ):
                        if cancel is not None and cancel.is_set():
                            return None
                        path = None  # withdrawn, or ours after all
                        if self._withdraw(client, base, node, ahead, deadline):
                            return None
                        with self._mutex:
                            self._held[name, owner] = (node, client.client_id[0], int(stat.czxid))
                        return int(stat.czxid)
                except lost:  # our node stays while the session lives: wait on once back
                    if not self._wait_connected(deadline):
                        raise
        except self._errors as exc:
            raise self._fail(f"acquire {name!r}", exc) from exc
        finally:
            if path is not None:
                self._delete_soon(path)
            elif (name, owner) not in self._held:
                self._forget_prefix(base, prefix)

    def _create(
        self,
        client: Any,
        base: str,
        prefix: str,
        owner: str,
        deadline: float | None,
        *,
        ephemeral: bool = True,
    ) -> tuple[str, Any]:
        """Create our node; after a lost connection, find it, or create it again if it was not."""
        lost = (self._exceptions.ConnectionLoss, self._exceptions.SessionExpiredError)
        while True:
            creating = client.create_async(
                prefix, owner.encode(), ephemeral=ephemeral, sequence=True, makepath=True,
                include_data=True,
            )  # fmt: skip
            try:
                return self._get(creating, deadline)  # type: ignore[no-any-return]
            except lost:
                # Answered "connection lost": the node may exist all the same.
                if not self._wait_connected(deadline):
                    raise
            except self._errors:
                # No answer yet: kazoo may still send it; never leave its node behind.
                creating.rawlink(self._delete_when_created)
                raise
            found = self._find(client, base, prefix, deadline)
            if found is not None:
                return found

    def _find(
        self, client: Any, base: str, prefix: str, deadline: float | None
    ) -> tuple[str, Any] | None:
        """Our node (path, stat) under *base* by its unique *prefix*, or None."""
        start = prefix.rsplit("/", 1)[1]
        try:
            children = self._get(client.get_children_async(base), deadline)
        except self._exceptions.NoNodeError:
            return None
        for child in children:
            if child.startswith(start):
                stat = self._get(client.exists_async(f"{base}/{child}"), deadline)
                if stat is not None:
                    return f"{base}/{child}", stat
        return None

    def _forget_prefix(self, base: str, prefix: str) -> None:
        """After a failed acquire: delete any node of ours a lost reply hid (once connected)."""

        def sweep() -> None:
            try:
                found = self._find(self.client, base, prefix, None)
            except self._errors:
                if self._started:
                    renewer.schedule(1.0, sweep)  # still disconnected: again later
                return
            if found is not None:
                self._delete_soon(found[0])

        if self._started:
            renewer.schedule(0, sweep)

    def _wait_gone(
        self, client: Any, path: str, deadline: float | None, cancel: threading.Event | None
    ) -> bool:
        """Wait until the node at *path* may be gone; False on timeout or *cancel*."""
        gone = threading.Event()
        if self._get(client.exists_async(path, watch=_setter(gone)), deadline) is None:
            return True
        # Watches do not fire when the session ends: look again now and then.
        until = time.monotonic() + _RECHECK
        if deadline is not None:
            until = min(until, deadline)
        while not gone.is_set():
            if cancel is not None and cancel.is_set():
                return False
            left = until - time.monotonic()
            if left <= 0:
                return deadline is None or time.monotonic() < deadline
            gone.wait(min(left, _POLL) if cancel is not None else left)
        return True

    def _withdraw(
        self, client: Any, base: str, node: str, ahead: list[str], deadline: float | None
    ) -> bool:
        """Delete our queued *node* of an attempt that gives up: True; False if it holds now.

        The delete is atomic with a check that a node *ahead* of ours still
        exists. That node existed since before ours, so ours was never the
        lowest: no reader can have taken it for the holder (a holder that then
        never runs), nor have given up behind it while nobody held the lock.
        If every node ahead went meanwhile, ours is the lowest: the lock is
        ours (False). A failed request leaves the node to be deleted once
        connected, as before.
        """
        mine = node.rsplit("/", 1)[1]
        try:
            while True:
                if ahead and _expired(ahead[0]):
                    self._purge(client, f"{base}/{ahead[0]}", deadline)
                elif ahead:
                    done = client.transaction()
                    done.check(f"{base}/{ahead[0]}", -1)  # -1: any version, but it must exist
                    done.delete(node)
                    results = self._get(done.commit_async(), deadline)
                    if not isinstance(results[0], Exception):
                        return True  # deleted (or gone with an expired session)
                else:
                    return False
                children = self._get(client.get_children_async(base), deadline)
                if mine not in children:
                    return True
                ahead = sorted(
                    (
                        n
                        for n in children
                        if n.startswith(_PREFIX) and _sequence(n) < _sequence(mine)
                    ),
                    key=_sequence,
                )
        except self._errors:
            self._delete_soon(node)
            raise

    def _owned_by(self, path: str, owner: str, deadline: float | None) -> int | None:
        """The token of the node at *path* if *owner* made it, else None."""
        try:
            data, stat = self._get(self.client.get_async(path), deadline)
        except self._exceptions.NoNodeError:
            return None
        return int(stat.czxid) if data == owner.encode() else None

    # -- holder, release, renew ---------------------------------------------------------------

    def _lowest(self, name: str) -> tuple[str, str, int] | None:
        """Path, owner and token of *name*'s lowest node (the holder), or None."""
        client = self._session(None)
        base = self.base(name)
        while True:
            try:
                children = self._get(client.get_children_async(base))
            except self._exceptions.NoNodeError:
                return None
            nodes = sorted((n for n in children if n.startswith(_PREFIX)), key=_sequence)
            if not nodes:
                return None
            if _expired(nodes[0]):
                self._purge(client, f"{base}/{nodes[0]}", None)
                continue
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
            raise self._fail(f"read {name!r}", exc) from exc
        return None if found is None else (found[1], found[2])

    def reserve(self, name: str, owner: str, ttl: float) -> int | None:
        """Take *name* for *owner* for *ttl* seconds, independently of this session; None if held.

        A reservation outlives the process that made it (a caller that enqueues
        a task and exits): it is a persistent node whose name carries its end
        (wall clock, ms). Whoever reads the lock after that end deletes it, so
        it holds no longer than *ttl* (give or take the clock difference
        between the reserving host and the reading one). It ends early when
        released by *owner* or taken over (:meth:`take_over`).
        """
        deadline = time.monotonic() + self.connect_timeout
        client = self._session(self.connect_timeout)
        base = self.base(name)
        ends = int((time.time() + ttl) * 1000)
        prefix = f"{base}/{_PREFIX}{_mark(owner)}{secrets.token_hex(4)}{_ENDS}{ends}-"
        path: str | None = None
        try:
            node, stat = self._create(client, base, prefix, owner, deadline, ephemeral=False)
            path = node
            mine = node.rsplit("/", 1)[1]
            while True:
                children = self._get(client.get_children_async(base), deadline)
                nodes = sorted((n for n in children if n.startswith(_PREFIX)), key=_sequence)
                ahead = [n for n in nodes if _sequence(n) < _sequence(mine)]
                if ahead and _expired(ahead[0]):
                    self._purge(client, f"{base}/{ahead[0]}", deadline)
                    continue
                path = None
                if ahead and self._withdraw(client, base, node, ahead, deadline):
                    return None  # held: our node is gone
                return int(stat.czxid)
        except self._errors as exc:
            raise self._fail(f"reserve {name!r}", exc) from exc
        finally:
            if path is not None:  # a persistent node: delete it now, or once reconnected
                try:
                    self._purge(client, path, deadline)
                except self._errors:
                    self._delete_soon(path)

    def _purge(self, client: Any, path: str, deadline: float | None) -> None:
        """Delete an expired reservation's node (gone already: fine)."""
        with contextlib.suppress(self._exceptions.NoNodeError):
            self._get(client.delete_async(path), deadline)

    def take_over(self, name: str, owner: str, new_owner: str, ttl: float) -> int | None:
        """Pass *owner*'s lock on *name* to *new_owner*, with a new token; None if not held.

        Queues a node for *new_owner* (in this process's session), waits (at
        most ``connect_timeout``) for the attempts queued between *owner*'s
        node and it, which give up at once, to leave, then deletes *owner*'s
        node if it is still the lowest. If *owner* released meanwhile and
        nothing else is ahead, *new_owner*'s node is the lowest: it holds, and
        the token is returned all the same (readers may already have named
        it). None, with *new_owner*'s node deleted (it never was the lowest),
        if *owner* did not hold the lock, another attempt holds it, or a
        waiter between kept waiting.
        """
        deadline = time.monotonic() + self.connect_timeout
        client = self._session(self.connect_timeout)
        base = self.base(name)
        prefix = f"{base}/{_PREFIX}{_mark(new_owner)}{secrets.token_hex(4)}-"
        path: str | None = None
        try:
            found = self._lowest(name)
            if found is None or found[1] != owner:
                return None
            with self._mutex:
                self._last_use[base] = time.monotonic()
            node, stat = self._create(client, base, prefix, new_owner, deadline)
            path = node
            held, mine = found[0].rsplit("/", 1)[1], node.rsplit("/", 1)[1]
            while True:
                # The attempts queued between the holder's node and ours give up
                # while it exists (see _withdraw): wait for them before deleting
                # it, so that none of them finds itself the lowest instead of ours.
                children = self._get(client.get_children_async(base), deadline)
                nodes = sorted((n for n in children if n.startswith(_PREFIX)), key=_sequence)
                if nodes and nodes[0] == mine:
                    # *owner* released meanwhile and nothing was ahead of ours: ours is
                    # the lowest, so readers already take new_owner for the holder. It
                    # is: a node that was the holder is never withdrawn (a reader that
                    # named it would name a holder that never held).
                    break
                if not nodes or nodes[0] != held:  # another attempt holds it now
                    return None
                between = [n for n in nodes[1:] if _sequence(n) < _sequence(mine)]
                if not between:
                    try:
                        self._get(client.delete_async(found[0]), deadline)
                    except self._exceptions.NoNodeError:
                        continue  # released meanwhile: look again
                    break
                if not self._wait_gone(client, f"{base}/{between[-1]}", deadline, None):
                    return None
            self._forget_held(name, owner)
            with self._mutex:
                self._held[name, new_owner] = (node, client.client_id[0], int(stat.czxid))
            path = None
            return int(stat.czxid)
        except self._errors as exc:
            raise self._fail(f"take over {name!r}", exc) from exc
        finally:
            if path is not None:  # now, so that a retry by new_owner cannot adopt it
                try:
                    self._purge(client, path, deadline + self.connect_timeout)
                except self._errors:
                    self._delete_soon(path)

    def _forget_held(self, name: str, owner: str) -> None:
        with self._mutex:
            self._held.pop((name, owner), None)
            self._watchers.pop((name, owner), None)

    def _check(self, name: str, owner: str, *, pop: bool) -> str | None:
        with self._mutex:
            entry = self._held.pop((name, owner), None) if pop else self._held.get((name, owner))
            if pop:
                self._watchers.pop((name, owner), None)
        if entry is None:
            return None
        path, session, _ = entry
        current = self.client.client_id  # None while disconnected: can't tell yet
        if current is not None and current[0] != session:
            return None  # a new session: the old one's ephemeral node is gone
        return path

    def release(self, name: str, owner: str) -> bool:
        """Delete *owner*'s node (waking the next waiter); False if it was gone.

        A delete whose answer a lost connection hid is sent again once
        reconnected (within ``connect_timeout``): a node already gone then
        counts as released. From a process that did not take it, deletes the
        lowest node if *owner* made it.
        """
        with self._mutex:
            mine = (name, owner) in self._held
        session = self.client.client_id
        path = self._check(name, owner, pop=True) if mine else self._path_of(name, owner)
        if path is None:
            return False
        deadline = time.monotonic() + self.connect_timeout
        retried = False
        while True:
            try:
                self._get(self.client.delete_async(path), deadline)
            except self._exceptions.NoNodeError:
                # Gone: by our first delete if its answer was lost, unless the session
                # expired meanwhile (then the node went with it: not a release).
                return retried and self.client.client_id == session
            except self._errors as exc:
                retried = True
                if self._wait_connected(deadline):
                    continue
                self._delete_soon(path)
                raise LockBackendError(
                    f"ZooKeeper at {self.url} failed to release {name!r}: "
                    f"{renewer.describe(exc)}; its node will be deleted when the connection "
                    "comes back, or ends with the session"
                ) from exc
            self._parent_unused(self.base(name))
            return True

    def _path_of(self, name: str, owner: str) -> str | None:
        try:
            found = self._lowest(name)
        except self._errors as exc:
            raise self._fail(f"read {name!r}", exc) from exc
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
            raise self._fail(f"check {name!r}", exc) from exc
        return found is not None

    def is_locked(self, name: str) -> bool:
        """True when a lock node exists for *name*."""
        client = self._session(None)
        try:
            return bool(self._get(client.get_children_async(self.base(name))))
        except self._exceptions.NoNodeError:
            return False
        except self._errors as exc:
            raise self._fail(f"read {name!r}", exc) from exc


@hookimpl
def accord_lock_backend(
    scheme: str, url: str, options: Mapping[str, Any]
) -> ZooKeeperBackend | None:
    """Serve ``zookeeper://[user:password@]host:port[,host:port...][/chroot]``.

    Options: ``session_timeout`` (s, default 10: how soon a dead holder's lock
    is freed), ``connect_timeout`` (s, default 5) and ``suspended``: what a
    lost connection does to a held lock, ``"lose"`` (default: lost at once,
    as SUSPENDED) or ``"wait"`` (in doubt until the connection comes back:
    held again if the session survived, lost if it expired or no renewal was
    confirmed for ``ttl``). With a user and password, the client
    authenticates (digest) and every node it creates (the chroot, the lock
    parents, the lock nodes) can be read and written by that user only.
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
            "'zookeeper://[user:password@]host:2181[,host:2181...][/chroot]' "
            "(every host with a port, no query)."
        )
    target = parse_zookeeper_url(url, default_path="")
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigurationError(
            f"ZooKeeper locks do not take the options {sorted(unknown)}; "
            f"accepted: {', '.join(sorted(_OPTIONS))}."
        )
    suspended = options.get("suspended", "lose")
    if suspended not in _SUSPENDED_POLICIES:
        raise ConfigurationError(
            f"lock backend option suspended={suspended!r} is invalid: expected 'lose' (a lost "
            "connection loses the lock at once) or 'wait' (in doubt until it comes back)."
        )
    return ZooKeeperBackend(
        hosts + target.path,
        url=url,
        session_timeout=option(options, "session_timeout", float, 10.0, positive=True),
        connect_timeout=option(options, "connect_timeout", float, 5.0, positive=True),
        suspended=suspended,
        client_options=target.client_options(),
    )
