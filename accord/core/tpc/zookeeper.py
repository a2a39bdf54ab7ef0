"""The decision log in ZooKeeper: one znode per decided global transaction.

Failure behaviour first: a malformed URL raises
:class:`~accord.core.errors.ConfigurationError` naming it (password
redacted); kazoo missing raises :class:`~accord.core.errors.MissingDependency`;
a ZooKeeper that cannot be reached raises
:class:`~accord.core.errors.DecisionLogError` (kazoo's error as ``__cause__``)
from the call that needed it (for ``log_commit`` the coordinator then reports
the outcome as unknown: ``OutcomeUnknown``), and so do wrong credentials
(``AuthFailedError``, ``NoAuthError``). A commit whose znode exists with
``abort`` raises :class:`~accord.core.errors.TransactionFenced`. The log's
``url`` is the URL with its password redacted; messages never show the password.

``zookeeper://[user:password@]host:port[,host:port...]/path`` (path default
``/accord/tpc``). With a user, the client authenticates (digest) and every
znode it creates is readable and writable by that user only; without one they
are open to anyone who reaches ZooKeeper, who could write a commit decision
(the system check ``accord.W110`` warns).

Layout under the path::

    identity                    the log's identity (see accord.core.tpc.xid)
    horizon                     the purge horizon, in epoch seconds
    decisions/<hour>/<xid>      "<decision>\\n<source>\\n<participants>"; <hour> is the
                                xid's start, in hours since the epoch
    sightings/<xid>             when recovery first saw the undecided branch (MySQL)
    recovery                    the recovery worker's lock

A create is atomic, so coordinator and recovery cannot both win; a commit is
created in one multi-op with a version check of ``horizon``, so it fails once
a purge has raised the horizon past its xid. ZooKeeper acknowledges a write
once a quorum has it on disk. Reads of a decision ``sync()`` first, so a
follower behind the leader cannot report a stale outcome. The purge deletes
whole hours at a time: it reads only hours that are entirely older than the
retention, never the recent decisions.

The log cannot share a database transaction, so every writing participant is
prepared (one round trip to ZooKeeper more than the logging-last-resource
table).
"""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
from collections.abc import Collection, Iterator, Sequence
from typing import Any, cast

from accord.core.errors import AccordError, DecisionLogError, TransactionFenced
from accord.core.optional import import_optional
from accord.core.tpc.contract import (
    COMMIT,
    COORDINATOR,
    Decision,
    Record,
    Source,
    SQLConnection,
)
from accord.core.tpc.xid import LOG_ID_LENGTH, Xid
from accord.core.urls import redact
from accord.core.validate import number
from accord.core.zookeeper_url import ZooKeeperURL, parse_zookeeper_url

__all__ = ["ZooKeeperDecisionLog"]

_HOUR_MS = 3_600_000
_BATCH = 200


def _encode(decision: Decision, source: Source, participants: Sequence[str]) -> bytes:
    return f"{decision}\n{source}\n{','.join(participants)}".encode()


def _decode(data: bytes, ctime_ms: int) -> Record:
    decision, _, rest = data.decode().partition("\n")
    source, _, names = rest.partition("\n")
    return Record(
        decision=cast(Decision, decision),
        source=cast(Source, source or COORDINATOR),
        participants=tuple(n for n in names.split(",") if n),
        created=ctime_ms / 1000.0,
    )


class ZooKeeperDecisionLog:
    """Decisions as znodes under the URL's path (see the module docstring)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = redact(url)  # for messages; the credentials are kept in _target only
        self._target = parse_zookeeper_url(url, default_path="/accord/tpc")
        self.root = self._target.path
        self.timeout = number(
            timeout, "ZooKeeper decision log timeout", minimum=0, above=True, unit="seconds"
        )
        self._client: Any = None
        self._identity: str | None = None
        self._horizon: tuple[float, int] | None = None  # (seconds, znode version)
        self._hours: set[str] = set()  # hour znodes known to exist

    @property
    def target(self) -> ZooKeeperURL:
        """Deprecated: the parsed URL, credentials included; kept private now."""
        import warnings

        warnings.warn(
            "ZooKeeperDecisionLog.target is deprecated (it holds the password): use .url "
            "(redacted) and .root",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._target

    def _zk(self) -> Any:
        if self._client is None:
            client_mod = import_optional(
                "kazoo.client", extra="zookeeper", purpose="ZooKeeper decision logs"
            )
            client = client_mod.KazooClient(
                hosts=self._target.hosts, timeout=self.timeout, **self._target.client_options()
            )
            client.start(timeout=self.timeout)
            try:
                for name in ("decisions", "sightings"):
                    client.ensure_path(f"{self.root}/{name}")
            except Exception:
                client.stop()
                client.close()
                raise
            self._client = client
        return self._client

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Turn kazoo's errors into DecisionLogError (whether ZooKeeper wrote is unknown)."""
        try:
            yield
        except AccordError:
            raise
        except Exception as exc:
            said = " ".join(f"{type(exc).__name__}: {exc}".split())
            for secret in {self._target.password, urllib.parse.quote(self._target.password)}:
                if secret:
                    said = said.replace(secret, "***")
            raise DecisionLogError(
                f"the ZooKeeper decision log {self.url} failed to {what}: {said}"
            ) from exc

    def _errors(self) -> Any:
        return import_optional("kazoo.exceptions", extra="zookeeper", purpose="ZooKeeper")

    def close(self) -> None:
        """Stop the ZooKeeper session, if started."""
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                client.stop()
                client.close()

    def identity(self) -> str:
        """The ``identity`` znode's content, created on first use."""
        if self._identity is None:
            path = f"{self.root}/identity"
            with self._failing("read its identity"):
                with contextlib.suppress(self._errors().NodeExistsError):
                    self._zk().create(path, secrets.token_hex(LOG_ID_LENGTH // 2).encode())
                self._zk().sync(path)
                self._identity = self._zk().get(path)[0].decode()
        return self._identity

    def shares_transaction_with(self, connection: SQLConnection) -> bool:
        """Never: ZooKeeper is not a participant's database."""
        return False

    # -- decisions ---------------------------------------------------------------------

    def _hour_of(self, xid: Xid) -> str:
        return f"{self.root}/decisions/{xid.started_ms // _HOUR_MS}"

    def _path(self, xid: Xid) -> str:
        return f"{self._hour_of(xid)}/{xid}"

    def _read_horizon(self) -> tuple[float, int]:
        path = f"{self.root}/horizon"
        with contextlib.suppress(self._errors().NodeExistsError):
            self._zk().create(path, b"0")
        self._zk().sync(path)
        data, stat = self._zk().get(path)
        self._horizon = (float(data.decode() or 0), stat.version)
        return self._horizon

    def _create(
        self, xid: Xid, decision: Decision, source: Source, participants: Sequence[str]
    ) -> bool | None:
        """Create-if-absent; True if created, False if a decision exists, None if too old."""
        errors = self._errors()
        for attempt in range(3):
            cached = self._horizon if attempt == 0 else None
            horizon, version = cached or self._read_horizon()
            if decision == COMMIT and xid.started < horizon:
                return None
            hour = self._hour_of(xid)
            if hour not in self._hours:
                self._zk().ensure_path(hour)
                self._hours.add(hour)
            transaction = self._zk().transaction()
            transaction.check(f"{self.root}/horizon", version)
            transaction.create(self._path(xid), _encode(decision, source, participants))
            results = transaction.commit()
            if not any(isinstance(r, Exception) for r in results):
                return True
            if isinstance(results[1], errors.NodeExistsError):
                return False
            self._hours.discard(hour)  # a purge raised the horizon, and may have removed it
        return None

    def log_commit(
        self, xid: Xid, participants: Sequence[str], within: SQLConnection | None
    ) -> None:
        """Create the decision znode with ``commit``; see the module docstring for refusals."""
        with self._failing(f"record commit for {xid}"):
            created = self._create(xid, COMMIT, COORDINATOR, participants)
        if created:
            return
        standing = self.lookup(xid) if created is False else None
        if standing is not None and standing.decision == COMMIT:
            return
        raise TransactionFenced(
            f"{xid} was not committed: "
            + (
                f"{standing.source} had already recorded abort for it"
                if standing is not None
                else "it began before the decision log's purge horizon"
            ),
            xid=str(xid),
        )

    def decide(
        self,
        xid: Xid,
        decision: Decision,
        *,
        source: Source,
        participants: Sequence[str],
        wait: float,
    ) -> Record | None:
        """Create the decision znode unless it exists; the decision that stands."""
        with self._failing(f"record {decision} for {xid}"):
            self._create(xid, decision, source, participants)
        return self.lookup(xid)

    def lookup(self, xid: Xid) -> Record | None:
        """The decision znode's content (after a ``sync``), or None."""
        path = self._path(xid)
        with self._failing(f"read the decision for {xid}"):
            self._zk().sync(path)
            try:
                data, stat = self._zk().get(path)
            except self._errors().NoNodeError:
                return None
        return _decode(data, stat.ctime)

    # -- sightings, purge, lock -----------------------------------------------------------

    def sightings(self, xids: Sequence[Xid]) -> dict[Xid, float]:
        """When recovery first saw each xid (the sighting znode's creation time)."""
        found = {}
        with self._failing("record sightings"):
            for xid in xids:
                path = f"{self.root}/sightings/{xid}"
                with contextlib.suppress(self._errors().NodeExistsError):
                    self._zk().create(path, b"")
                found[xid] = self._zk().exists(path).ctime / 1000.0
        return found

    def purge(
        self, older_than: float, horizon: float, keep: Collection[Xid], scanned: Collection[str]
    ) -> int:
        """Raise the horizon, then delete whole old hours (what may go of them)."""
        with self._failing("purge old decisions"):
            return self._purge(older_than, horizon, keep, scanned)

    def _purge(
        self, older_than: float, horizon: float, keep: Collection[Xid], scanned: Collection[str]
    ) -> int:
        client, errors = self._zk(), self._errors()
        current, version = self._read_horizon()
        if horizon > current:
            with contextlib.suppress(errors.BadVersionError):  # raised meanwhile: fine
                client.set(f"{self.root}/horizon", repr(horizon).encode(), version=version)
        kept, allowed = {str(x) for x in keep}, set(scanned)
        purged = 0
        for hour in client.get_children(f"{self.root}/decisions"):
            if not hour.isdigit() or (int(hour) + 1) * _HOUR_MS / 1000.0 >= older_than:
                continue  # not wholly older than the retention: not read at all
            path = f"{self.root}/decisions/{hour}"
            names = client.get_children(path)
            reads = [(n, client.get_async(f"{path}/{n}")) for n in names]
            doomed = []
            for name, pending in reads:
                record = _decode(*self._data_and_ctime(pending.get()))
                if name in kept or record.created >= older_than:
                    continue
                if record.decision == COMMIT and not set(record.participants) <= allowed:
                    continue  # a participant was not scanned: its branch may be prepared
                doomed.append(f"{path}/{name}")
            purged += self._delete(doomed)
            if len(doomed) == len(names):
                with contextlib.suppress(errors.NotEmptyError, errors.NoNodeError):
                    client.delete(path)  # the hour itself, once empty
        for name in client.get_children(f"{self.root}/sightings"):
            stat = client.exists(f"{self.root}/sightings/{name}")
            if stat is not None and stat.ctime / 1000.0 < older_than:
                with contextlib.suppress(errors.NoNodeError):
                    client.delete(f"{self.root}/sightings/{name}")
        return purged

    @staticmethod
    def _data_and_ctime(result: tuple[bytes, Any]) -> tuple[bytes, int]:
        data, stat = result
        return data, stat.ctime

    def _delete(self, paths: list[str]) -> int:
        deleted = 0
        for start in range(0, len(paths), _BATCH):
            transaction = self._zk().transaction()
            batch = paths[start : start + _BATCH]
            for path in batch:
                transaction.delete(path)
            if not any(isinstance(r, Exception) for r in transaction.commit()):
                deleted += len(batch)
        return deleted

    @contextlib.contextmanager
    def recovery_lock(self) -> Iterator[bool]:
        """kazoo's lock recipe on ``<path>/recovery``, without waiting."""
        with self._failing("take the recovery lock"):
            lock = self._zk().Lock(f"{self.root}/recovery")
            got = bool(lock.acquire(blocking=False))
        try:
            yield got
        finally:
            if got:
                with self._failing("release the recovery lock"):
                    lock.release()
