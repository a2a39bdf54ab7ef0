"""Pick one request of a real protocol out of the bytes a fault proxy sees.

Failure behaviour first: a matcher never raises; bytes it cannot parse (a
request split over two chunks, another protocol) simply do not match.

A fault test usually wants to hit one operation, not "the next bytes":
the renewal of a lock, not its acquire; a ZooKeeper ``delete``, not the
session's pings. These functions return predicates for
:meth:`FaultProxy.cut_before <accord.testing.faults.FaultProxy.cut_before>`
and its siblings::

    proxy.cut_after(redis_command("EVALSHA", backend.scripts["renew"]))
    proxy.cut_before(zookeeper_request("delete", "/accord/locks/job/"))

Both parse every request of the chunk (clients pipeline), so a match
anywhere in a batch counts. This module imports no client library.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator

from accord.core.errors import ConfigurationError

__all__ = ["ZOOKEEPER_OPCODES", "redis_command", "redis_commands", "zookeeper_request"]

#: ZooKeeper request types by name (``OpCode`` in ZooKeeper's ``ZooDefs``).
ZOOKEEPER_OPCODES = {
    "create": 1,
    "delete": 2,
    "exists": 3,
    "get_data": 4,
    "set_data": 5,
    "get_acl": 6,
    "set_acl": 7,
    "get_children": 8,
    "sync": 9,
    "ping": 11,
    "get_children2": 12,
    "check": 13,
    "multi": 14,
    "create2": 15,
    "reconfig": 16,
    "check_watches": 17,
    "remove_watches": 18,
    "create_container": 19,
    "create_ttl": 21,
    "close": -11,
}


def redis_commands(data: bytes) -> Iterator[list[bytes]]:
    """Each RESP command (a list of its arguments) in *data*, until one is incomplete."""
    pos = 0
    while pos < len(data) and data[pos : pos + 1] == b"*":
        end = data.find(b"\r\n", pos)
        if end < 0:
            return
        try:
            count = int(data[pos + 1 : end])
        except ValueError:
            return
        pos = end + 2
        parts = []
        for _ in range(count):
            end = data.find(b"\r\n", pos)
            if end < 0 or data[pos : pos + 1] != b"$":
                return
            try:
                size = int(data[pos + 1 : end])
            except ValueError:
                return
            start = end + 2
            if start + size > len(data):
                return
            parts.append(data[start : start + size])
            pos = start + size + 2
        yield parts


def redis_command(name: str, *args: str | bytes) -> Callable[[bytes], bool]:
    """A predicate: the chunk holds command *name* whose first arguments are *args*.

    ``redis_command("BLPOP")`` matches any BLPOP; ``redis_command("EVALSHA",
    sha)`` one script; ``redis_command("SET", "key")`` a SET of that key.
    """
    wanted = name.upper().encode()
    prefix = [a.encode() if isinstance(a, str) else a for a in args]

    def match(data: bytes) -> bool:
        for command in redis_commands(data):
            if command and command[0].upper() == wanted and command[1 : 1 + len(prefix)] == prefix:
                return True
        return False

    match.__name__ = f"redis_command({name!r}, ...)"
    return match


def _zookeeper_requests(data: bytes) -> Iterator[tuple[int, str | None]]:
    """(request type, path or None) of each framed request in *data*."""
    pos = 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">i", data, pos)
        if length < 8:
            return
        (kind,) = struct.unpack_from(">i", data, pos + 8)
        path = None
        if pos + 16 <= len(data):
            (size,) = struct.unpack_from(">i", data, pos + 12)
            if 0 <= size <= length - 12 and pos + 16 + size <= len(data):
                path = data[pos + 16 : pos + 16 + size].decode("utf-8", "replace")
        yield kind, path
        pos += 4 + length


def zookeeper_request(op: str | Iterable[str], path_prefix: str = "") -> Callable[[bytes], bool]:
    """A predicate: the chunk holds a ZooKeeper request of type *op* on a path under *path_prefix*.

    *op* is a name of :data:`ZOOKEEPER_OPCODES` (or several); kazoo's
    ``create(..., include_data=True)`` sends ``create2``, ``get_children``
    with ``include_data`` sends ``get_children2``. Raises :class:`ValueError`
    for an unknown name.
    """
    names = [op] if isinstance(op, str) else list(op)
    unknown = [n for n in names if n not in ZOOKEEPER_OPCODES]
    if unknown:
        raise ConfigurationError(
            f"unknown ZooKeeper request types {unknown}; known: {', '.join(ZOOKEEPER_OPCODES)}"
        )
    kinds = {ZOOKEEPER_OPCODES[n] for n in names}

    def match(data: bytes) -> bool:
        for kind, path in _zookeeper_requests(data):
            if kind in kinds and (not path_prefix or (path or "").startswith(path_prefix)):
                return True
        return False

    match.__name__ = f"zookeeper_request({names!r}, {path_prefix!r})"
    return match
