"""Who holds which lock now, on a Redis or ZooKeeper lock backend: a bounded listing.

For operators (the Django admin's operations pages), never for deciding
anything: a listing is a snapshot, stale as soon as it is read.

Bounds first: on Redis the listing walks the keyspace with ``SCAN`` (never
``KEYS``), visiting at most about *max_scanned* keys of the whole keyspace
(``SCAN ... COUNT 500``, at most ``max_scanned / 500`` calls, however few of
the keys are locks), examines at most *max_scanned* lock keys, and keeps at
most *limit* holders; on
ZooKeeper it reads the one list of lock names under ``/accord/locks`` and
looks at most *max_scanned* of them. Either way
:attr:`HolderList.complete` says whether everything was looked at. Failure
behaviour: a server error raises :class:`~accord.core.errors.LockBackendError`
naming the URL without its password; a scheme other than Redis or ZooKeeper
raises :class:`~accord.core.errors.ConfigurationError`.

``age`` is exact on ZooKeeper (the holder node's creation time). On Redis it
is read from the fencing token, which is the server's clock in microseconds
at the acquisition unless the token counter had run ahead of the clock (then
the age reads low); ``lease_left`` is the holder key's time to live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accord.core.errors import ConfigurationError, LockBackendError
from accord.core.lock.base import get_backend
from accord.core.urls import redact

__all__ = ["Holder", "HolderList", "list_holders"]

_REDIS_PREFIX = "accord:lock:{"
_SCAN_COUNT = 500


@dataclass(frozen=True)
class Holder:
    """One held lock: its name, the owner id, the fencing token, seconds held and left."""

    name: str
    owner: str
    token: int
    age: float | None
    lease_left: float | None


@dataclass
class HolderList:
    """What :func:`list_holders` found; ``complete`` is False when a bound cut it short."""

    url: str
    holders: list[Holder] = field(default_factory=list)
    scanned: int = 0
    complete: bool = True


def list_holders(
    url: str, *, prefix: str = "", limit: int = 100, max_scanned: int = 10_000
) -> HolderList:
    """The holders of the locks whose names start with *prefix* on the backend at *url*.

    :param limit: holders kept at most (the listing stops there).
    :param max_scanned: keys (Redis) or lock names (ZooKeeper) looked at most.
    """
    if limit < 1 or max_scanned < 1:
        raise ConfigurationError(
            f"limit={limit!r}, max_scanned={max_scanned!r}: both must be 1 or more."
        )
    scheme = url.partition("://")[0].lower()
    backend = get_backend(url)
    result = HolderList(redact(url))
    if scheme in ("redis", "rediss", "unix"):
        _redis(backend, prefix, limit, max_scanned, result)
    elif scheme == "zookeeper":
        _zookeeper(backend, prefix, limit, max_scanned, result)
    else:
        raise ConfigurationError(
            f"cannot list the holders of {redact(url)!r}: listing supports redis://, "
            "rediss://, unix:// and zookeeper:// lock backends."
        )
    result.holders.sort(key=lambda h: h.name)
    return result


def _redis(backend: Any, prefix: str, limit: int, max_scanned: int, result: HolderList) -> None:
    client = backend.client
    pattern = _glob_escape(_REDIS_PREFIX + prefix) + "*}"
    cursor: Any = 0
    calls_left = max(1, -(-max_scanned // _SCAN_COUNT))
    try:
        now_s, now_us = client.time()
        now = now_s + now_us / 1e6
        while True:
            cursor, keys = client.scan(cursor, match=pattern, count=_SCAN_COUNT)
            calls_left -= 1
            keys = [k.decode() if isinstance(k, bytes) else k for k in keys]
            cut = len(keys) > max_scanned - result.scanned
            keys = keys[: max_scanned - result.scanned]
            result.scanned += len(keys)
            if keys:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.get(key)
                    pipe.pttl(key)
                    pipe.get(key + ":fence")
                replies = pipe.execute()
                for i, key in enumerate(keys):
                    owner, pttl, fence = replies[3 * i : 3 * i + 3]
                    if owner is None:
                        continue  # released meanwhile
                    token = int(fence or 0)
                    result.holders.append(
                        Holder(
                            name=key[len(_REDIS_PREFIX) : -1],
                            owner=owner.decode() if isinstance(owner, bytes) else str(owner),
                            token=token,
                            age=max(0.0, now - token / 1e6) if token > 1e15 else None,
                            lease_left=pttl / 1000 if pttl is not None and pttl >= 0 else None,
                        )
                    )
            if len(result.holders) >= limit or result.scanned >= max_scanned:
                result.complete = not cut and int(cursor) == 0 and len(result.holders) <= limit
                del result.holders[limit:]
                return
            if int(cursor) == 0:
                return
            if calls_left == 0:  # a large keyspace with few locks: stop, and say so
                result.complete = False
                return
    except backend._error as exc:
        raise LockBackendError(f"Redis at {result.url} failed to list locks: {exc}") from exc


def _zookeeper(backend: Any, prefix: str, limit: int, max_scanned: int, result: HolderList) -> None:
    import time
    import urllib.parse

    from accord.core.lock.backends.zookeeper import _ROOT

    try:
        client = backend._session(None)
        try:
            names = sorted(client.get_children(_ROOT))
        except backend._exceptions.NoNodeError:
            return
        wanted = [n for n in names if urllib.parse.unquote(n).startswith(prefix)]
        result.complete = len(wanted) <= max_scanned
        for quoted in wanted[:max_scanned]:
            result.scanned += 1
            name = urllib.parse.unquote(quoted)
            found = backend._lowest(name)
            if found is None:
                continue
            path, owner, token = found
            try:
                stat = client.exists(path)
            except backend._exceptions.NoNodeError:
                stat = None
            age = None if stat is None else max(0.0, time.time() - stat.ctime / 1000)
            result.holders.append(Holder(name, owner, token, age, None))
            if len(result.holders) >= limit:
                result.complete = result.complete and result.scanned == len(wanted)
                return
    except backend._errors as exc:
        raise LockBackendError(f"ZooKeeper at {result.url} failed to list locks: {exc}") from exc


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
