"""The decision log in ZooKeeper: one znode per decided global transaction.

Failure behaviour first: a malformed URL raises
:class:`~accord.core.errors.ConfigurationError` naming it; kazoo missing
raises :class:`~accord.core.errors.MissingDependency`; a ZooKeeper that
cannot be reached raises kazoo's error from the call that needed it (for
``log_commit`` the coordinator then reports the outcome as unknown). A commit
whose znode exists already raises :class:`~accord.core.errors.TransactionFenced`.

``zookeeper://host:port[,host:port...]/path`` (path default ``/accord/tpc``).
Decisions are ``<path>/decisions/<xid>`` holding ``commit`` or ``abort``; the
create is atomic, so coordinator and recovery cannot both win. ZooKeeper
acknowledges a write once a quorum has it on disk. The log cannot share a
database transaction, so every writing participant is prepared (one round
trip to ZooKeeper more than the logging-last-resource table). Purges go in
one multi-op transaction per batch.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any, cast

from accord.core.errors import ConfigurationError, TransactionFenced
from accord.core.optional import import_optional
from accord.core.tpc.contract import ABORT, COMMIT, Decision, SQLConnection
from accord.core.tpc.xid import Xid

__all__ = ["ZooKeeperDecisionLog"]


class ZooKeeperDecisionLog:
    """Decisions as znodes under the URL's path (see the module docstring)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "zookeeper" or not parts.netloc:
            raise ConfigurationError(
                f"decision log URL {url!r} is invalid; expected "
                "'zookeeper://host:port[,host:port]/path'"
            )
        self.url = url
        self.hosts = parts.netloc
        self.root = (parts.path.rstrip("/") or "/accord/tpc") + "/decisions"
        self.timeout = timeout
        self._client: Any = None

    def _zk(self) -> Any:
        if self._client is None:
            client_mod = import_optional(
                "kazoo.client", extra="zookeeper", purpose="ZooKeeper decision logs"
            )
            client = client_mod.KazooClient(hosts=self.hosts, timeout=self.timeout)
            client.start(timeout=self.timeout)
            client.ensure_path(self.root)
            self._client = client
        return self._client

    def close(self) -> None:
        """Stop the ZooKeeper session, if started."""
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                client.stop()
                client.close()

    def shares_transaction_with(self, connection: SQLConnection) -> bool:
        """Never: ZooKeeper is not a participant's database."""
        return False

    def _create(self, xid: Xid, decision: Decision) -> bool:
        exceptions = import_optional("kazoo.exceptions", extra="zookeeper", purpose="ZooKeeper")
        try:
            self._zk().create(f"{self.root}/{xid}", decision.encode())
        except exceptions.NodeExistsError:
            return False
        return True

    def log_commit(
        self, xid: Xid, participants: Sequence[str], within: SQLConnection | None
    ) -> None:
        """Create the decision znode with ``commit``; TransactionFenced if it exists."""
        if not self._create(xid, COMMIT):
            raise TransactionFenced(
                f"{xid} was not committed: recovery had already recorded abort for it",
                xid=str(xid),
            )

    def log_abort(self, xid: Xid, wait: float) -> Decision | None:
        """Create the decision znode with ``abort`` unless it exists; the decision that stands."""
        return ABORT if self._create(xid, ABORT) else self.lookup(xid)

    def lookup(self, xid: Xid) -> Decision | None:
        """The decision znode's content, or None."""
        data = self._zk().exists(f"{self.root}/{xid}")
        if data is None:
            return None
        value, _ = self._zk().get(f"{self.root}/{xid}")
        return cast(Decision, value.decode())

    def purge(self, older_than: float, keep: Sequence[Xid]) -> int:
        """Delete decisions created before *older_than*, except *keep*, in multi-op batches."""
        client = self._zk()
        kept = {str(x) for x in keep}
        doomed = []
        for name in client.get_children(self.root):
            stat = client.exists(f"{self.root}/{name}")
            if stat is not None and stat.ctime / 1000.0 < older_than and name not in kept:
                doomed.append(name)
        for start in range(0, len(doomed), 200):
            transaction = client.transaction()
            for name in doomed[start : start + 200]:
                transaction.delete(f"{self.root}/{name}")
            transaction.commit()
        return len(doomed)

    @contextlib.contextmanager
    def recovery_lock(self) -> Iterator[bool]:
        """kazoo's lock recipe on ``<path>/recovery``, without waiting."""
        lock = self._zk().Lock(self.root.rsplit("/", 1)[0] + "/recovery")
        got = bool(lock.acquire(blocking=False))
        try:
            yield got
        finally:
            if got:
                lock.release()
