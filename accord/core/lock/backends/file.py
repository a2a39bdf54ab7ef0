"""``file:///path/to/dir``: locks shared by the processes of one host, on OS file locks.

Failure behaviour first:

* The lease lasts as long as the holder's open file: when the holder's
  process dies (even by SIGKILL) the kernel frees it at once; ``ttl`` is not
  enforced, and a holder that hangs keeps the lock. Renewal only checks that
  the holder's ticket file is still in place (deleting it by hand makes the
  holder's lock count as lost).
* The directory must exist: a missing one raises
  :class:`~accord.core.errors.ConfigurationError` naming it (creating it
  quietly would make it belong to whoever came first, say root, and lock out
  the other users). One that cannot be written raises
  :class:`~accord.core.errors.LockBackendError` naming it.
* Only local filesystems are safe: ``flock`` on NFS is emulated or absent.

How it works: a queue of ticket files, ZooKeeper's lock recipe on ``flock``.
Each acquire takes the next ticket number from ``<dir>/<name>.lock`` (names
are %-escaped; long ones are cut and hashed, with a ``+`` that no escaped name
contains) and creates ``<dir>/<name>.queue/<ticket>``
holding an exclusive ``flock`` on it for as long as it waits or holds. The
lowest ticket holds the lock. A waiter blocks in ``flock`` on its
predecessor's ticket only, so a release (which deletes the ticket) or the
death of that process wakes exactly the next waiter, in arrival order, with
no polling; a ticket whose process died is found unlocked and removed by its
successor. A waiter with a timeout (or a ``cancel`` event, as
:class:`~accord.core.lock.AsyncLock` passes) waits in a helper thread, which
stays blocked after the timeout until that predecessor goes; the waiter's own
ticket is removed at once, so those behind it move up.

The fencing token is a counter in ``<name>.lock``, incremented under its
``flock`` when a ticket becomes the holder: it survives process restarts (not
a deleted file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from accord.core.errors import ConfigurationError, LockBackendError
from accord.core.hookspecs import hookimpl
from accord.core.urls import redact

__all__ = ["FileBackend", "accord_lock_backend"]

_MAX_NAME = 150
_POLL = 0.05  # seconds between looks at a waiter's cancel event
_OPEN = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC


def _same_file(path: str, fd: int) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _tickets(queue: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(queue) if n.isdigit())  # zero-padded: sorts as ints
    except FileNotFoundError:
        return []


class FileBackend:
    """OS file locks in one directory; see the module docstring for the guarantees."""

    expires = False
    cancellable = True

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        if not os.path.isdir(self.directory):
            raise ConfigurationError(
                f"lock directory {self.directory!r} does not exist (file:// URL): create it, "
                "writable by every user and process that takes these locks, e.g. "
                f"'install -d -m 1777 {self.directory}'."
            )
        self.url = f"file://{self.directory}"
        self._held: dict[tuple[str, str], tuple[int, str]] = {}  # -> (ticket fd, ticket path)
        self._mutex = threading.Lock()

    def path(self, name: str) -> str:
        """The file of *name* that keeps its counters; its queue is this path + ``.queue``."""
        quoted = urllib.parse.quote(name, safe="")
        if len(quoted) > _MAX_NAME:
            digest = hashlib.sha256(name.encode()).hexdigest()[:32]
            quoted = f"{quoted[:100]}+{digest}"  # quote() never yields '+': no name maps here
        return os.path.join(self.directory, f"{quoted}.lock")

    def _fail(self, what: str, exc: OSError) -> LockBackendError:
        return LockBackendError(
            f"cannot {what} in {self.directory!r}: {exc.strerror or exc}. The directory "
            "must exist and be writable by every user of the lock."
        )

    def _counters(self, fd: int, *, ticket: bool) -> int:
        """Increment the token (or ticket) counter of an flock-ed counters file."""
        fields = [*os.pread(fd, 64, 0).split(), b"0", b"0"][:2]
        token, seq = (int(f) if f.isdigit() else 0 for f in fields)
        if ticket:
            seq += 1
        else:
            token += 1
        os.pwrite(fd, b"%020d %020d\n" % (token, seq), 0)  # fixed width: no truncate
        return seq if ticket else token

    def _enqueue(self, name: str) -> tuple[int, str, int | None]:
        """Create our ticket, locked; return its fd, its path, and the token if first in line."""
        queue = self.path(name) + ".queue"
        meta = os.open(self.path(name), _OPEN, 0o666) if os.path.isdir(queue) else None
        if meta is None:
            os.makedirs(queue, exist_ok=True)
            meta = os.open(self.path(name), _OPEN, 0o666)
        try:
            # Under the counters' flock, so no later ticket can be listed before ours is.
            fcntl.flock(meta, fcntl.LOCK_EX)
            ticket = f"{self._counters(meta, ticket=True):020d}"
            temporary = os.path.join(queue, f".{ticket}.{os.getpid()}")
            fd = os.open(temporary, _OPEN | os.O_EXCL, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # before it is visible: unlocked means dead
                path = os.path.join(queue, ticket)
                os.rename(temporary, path)
                first = _tickets(queue)[0] == ticket
                return fd, path, self._counters(meta, ticket=False) if first else None
            except BaseException:
                self._drop(fd, temporary)
                raise
        finally:
            os.close(meta)

    def _next_token(self, name: str) -> int:
        meta = os.open(self.path(name), _OPEN, 0o666)
        try:
            fcntl.flock(meta, fcntl.LOCK_EX)
            return self._counters(meta, ticket=False)
        finally:
            os.close(meta)

    def acquire(
        self,
        name: str,
        owner: str,
        ttl: float,
        timeout: float | None,
        *,
        cancel: threading.Event | None = None,
    ) -> int | None:
        """Queue a ticket for *owner* and wait until it is the lowest; None on timeout.

        Returns None soon after *cancel* is set (the ticket is removed).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            fd, path, token = self._enqueue(name)
        except OSError as exc:
            raise self._fail(f"queue for lock {name!r}", exc) from exc
        try:
            queue, ticket = os.path.split(path)
            while token is None:
                ahead = [t for t in _tickets(queue) if t < ticket]
                if not ahead:
                    token = self._next_token(name)
                elif not self._wait_for(os.path.join(queue, ahead[-1]), deadline, cancel):
                    self._drop(fd, path)
                    return None
        except BaseException as exc:
            self._drop(fd, path)
            if isinstance(exc, OSError):
                raise self._fail(f"wait for lock {name!r}", exc) from exc
            raise
        with self._mutex:
            self._held[name, owner] = (fd, path)
        return token

    def _wait_for(self, path: str, deadline: float | None, cancel: threading.Event | None) -> bool:
        """Wait until the ticket at *path* is released or its process died.

        False on timeout, or soon after *cancel* is set.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        owned = True  # False once a timed-out helper thread has taken fd over
        try:
            if deadline is None and cancel is None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    owned = _flock_until(fd, deadline, cancel)
                    if not owned:
                        return False
            if _same_file(path, fd):  # unlocked yet still there: its process died
                os.unlink(path)
            return True
        finally:
            if owned:
                os.close(fd)

    def _drop(self, fd: int, path: str) -> bool:
        """Remove a ticket; True if it was still in place (not deleted by hand)."""
        # Unlink before closing: our successor must find it gone, not dead.
        try:
            in_place = _same_file(path, fd)
            if in_place:
                os.unlink(path)
            return in_place
        finally:
            os.close(fd)

    def release(self, name: str, owner: str) -> bool:
        """Remove *owner*'s ticket (waking the next waiter); False if it did not hold *name*."""
        with self._mutex:
            entry = self._held.pop((name, owner), None)
        return entry is not None and self._drop(*entry)

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Check that *owner*'s ticket is still in place (the lease does not expire)."""
        with self._mutex:
            entry = self._held.get((name, owner))
        return entry is not None and _same_file(entry[1], entry[0])

    def is_locked(self, name: str) -> bool:
        """True when a live process holds (or is about to hold) *name*."""
        queue = self.path(name) + ".queue"
        for ticket in _tickets(queue):
            try:
                fd = os.open(os.path.join(queue, ticket), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)
        return False

    def close(self) -> None:
        """Drop every ticket still held (which frees those locks)."""
        with self._mutex:
            entries, self._held = list(self._held.values()), {}
        for fd, path in entries:
            self._drop(fd, path)


def _flock_until(fd: int, deadline: float | None, cancel: threading.Event | None) -> bool:
    """Take a shared flock on *fd* by *deadline* (None: no limit); False on timeout or *cancel*.

    ``flock`` has no timeout, so a helper thread blocks in it; on timeout the
    thread owns *fd* from then on and closes it once the flock comes.
    """
    done = threading.Event()
    abandoned = threading.Event()
    guard = threading.Lock()

    def wait() -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_SH)
        with guard:
            if abandoned.is_set():
                os.close(fd)
            else:
                done.set()

    threading.Thread(target=wait, name="accord-file-lock-wait", daemon=True).start()
    while not (cancel is not None and cancel.is_set()):
        left = threading.TIMEOUT_MAX if deadline is None else deadline - time.monotonic()
        if cancel is not None:
            left = min(left, _POLL)
        if done.wait(max(left, 0.0)):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            break
    with guard:
        if done.is_set():
            return True
        abandoned.set()
    return False


@hookimpl
def accord_lock_backend(scheme: str, url: str, options: Mapping[str, Any]) -> FileBackend | None:
    """Serve ``file:///absolute/dir`` (no options)."""
    if scheme != "file":
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path or parts.query:
        raise ConfigurationError(
            f"lock URL {redact(url)!r} is invalid: expected 'file:///absolute/path/to/dir' "
            "(three slashes, a directory on this host, no query)."
        )
    if options:
        raise ConfigurationError(f"file:// locks take no options; got {sorted(options)}.")
    return FileBackend(urllib.parse.unquote(parts.path))
