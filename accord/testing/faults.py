"""A TCP fault proxy: put it between a client and a real server, then break the connection on cue.

Failure behaviour first: :meth:`FaultProxy.start` raises :class:`OSError` if
it cannot listen; after that the proxy never raises into the test. A fault it
injects is seen by the client as a real network would show it: a connection
reset or closed (``cut``), a connection refused at once (``refuse``), or
silence (``pause``, ``delay``). The server sees the same from its side.

Typical use::

    with FaultProxy(redis_server.port) as proxy:
        client = redis.Redis(port=proxy.port)
        proxy.cut_after(b"SET")        # the next SET reaches Redis; its reply never returns
        ...
        proxy.pause()                  # nothing moves either way until resume()
        proxy.resume()

Faults that match a request are **one-shot**: armed by ``cut_before``,
``cut_after`` or ``cut_mid_reply``, they fire on the ``nth`` chunk of bytes
from a client that contains ``match`` (any chunk when ``match`` is None),
then disarm; :attr:`FaultProxy.fired` counts them, and :meth:`wait_fired`
waits for one. ``match`` is a plain substring of the bytes the client sent
(``b"EVALSHA"``, ``b"SET"``, a key name), or a predicate called with the
chunk: :mod:`accord.testing.wire` makes predicates that pick one request of
the Redis or ZooKeeper protocol (``redis_command("EVALSHA", sha)``,
``zookeeper_request("delete", "/accord/locks/job/")``). Chunks are what one
``recv`` returned, so a pipelined batch is one chunk.

What each one does to the request and its reply:

====================  ====================================  ====================================
fault                 the server                            the client
====================  ====================================  ====================================
``cut_before``        never receives the request            sees the connection closed
``cut_after``         receives and executes it              never sees the reply: the connection
                                                            is closed when the reply comes back
                                                            (at once with ``at="sent"``)
``cut_mid_reply``     receives and executes it              gets the first ``keep`` bytes of the
                                                            reply, then a close
``pause``             receives nothing more until           sees silence (a timeout) until
                      :meth:`resume`                        :meth:`resume`
``pause_on``          receives the request ``seconds``      sees silence for ``seconds``, then
                      late (and all traffic after it)       the reply (if it still listens)
``delay``             gets each chunk ``seconds`` late      gets each chunk ``seconds`` late
``refuse``            never hears of new connections        sees a new connection closed
``cut_all``           sees every connection closed          sees every connection closed
====================  ====================================  ====================================

The proxy runs one thread with a selector over every socket; it imports no
test framework and no optional dependency.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from accord.core.errors import ConfigurationError
from accord.testing.errors import HarnessError
from accord.testing.process import LOOPBACK

__all__ = ["FaultProxy", "Match"]

#: What a one-shot fault fires on: a substring of the client's bytes, a predicate, or any (None).
Match = bytes | Callable[[bytes], bool] | None

_CHUNK = 65536
_TICK = 0.05  # seconds the loop sleeps at most, so control calls take effect promptly


@dataclass
class _Fault:
    kind: Literal["before", "after", "mid", "pause"]
    match: Match
    nth: int
    at: Literal["reply", "sent"] = "reply"
    keep: int = 1
    seconds: float = 0.0
    seen: int = 0


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection to the server."""

    client: socket.socket
    server: socket.socket
    doomed: _Fault | None = None  # a cut_after / cut_mid_reply waiting for the reply
    closed: bool = False
    pending: dict[socket.socket, bytearray] = field(default_factory=dict)


class FaultProxy:
    """A TCP proxy from ``host:port`` (a free loopback port by default) to ``target``.

    ``target`` is a port on loopback, or ``(host, port)``. Start it with
    :meth:`start` or ``with``; :meth:`close` stops it and closes every
    connection. All control methods are thread-safe and take effect at once
    for data not yet forwarded.
    """

    def __init__(
        self,
        target: int | tuple[str, int],
        *,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> None:
        self.target = (LOOPBACK, target) if isinstance(target, int) else target
        self.host = host
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._faults: list[_Fault] = []
        self._paused = False
        self._resume_at: float | None = None  # when a pause_on fault ends
        self._refusing = False
        self._delay = 0.0
        self._delayed: list[tuple[float, int, _Link, socket.socket, bytes]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._fired = 0
        self._fired_cond = threading.Condition(self._lock)
        self._accepted = 0

    # -- lifecycle ------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port clients connect to (known once started)."""
        if self._listener is None:
            raise HarnessError("the proxy is not started")
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def address(self) -> str:
        """``host:port`` of the proxy, for URLs."""
        return f"{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        """Listen and start forwarding; raises :class:`OSError` if the port cannot be bound."""
        if self._thread is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="accord-fault-proxy", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the proxy and close every connection. Never raises."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            for link in list(self._links):
                self._drop(link)
        if self._listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- state faults ------------------------------------------------------------------

    def pause(self) -> None:
        """Forward nothing, either way, until :meth:`resume` (connections stay open)."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Forward again what was held by :meth:`pause`."""
        with self._lock:
            self._paused = False
            self._resume_at = None

    def delay(self, seconds: float) -> None:
        """Hold every chunk, in both directions, ``seconds`` before forwarding it (0: none)."""
        if seconds < 0:
            raise ConfigurationError(f"delay must be >= 0 seconds, got {seconds!r}")
        with self._lock:
            self._delay = seconds

    def refuse(self, refusing: bool = True) -> None:
        """Close new connections at once (``False``: accept them again)."""
        with self._lock:
            self._refusing = refusing

    def cut_all(self) -> int:
        """Close every open connection now, both sides; returns how many were open."""
        with self._lock:
            links = list(self._links)
            for link in links:
                self._drop(link)
            return len(links)

    def heal(self) -> None:
        """Undo every fault: resume, no delay, accept connections, disarm what has not fired."""
        with self._lock:
            self._paused = False
            self._resume_at = None
            self._delay = 0.0
            self._refusing = False
            self._faults.clear()

    # -- one-shot faults -----------------------------------------------------------------

    def cut_before(self, match: Match = None, *, nth: int = 1) -> None:
        """Close the connection instead of forwarding the ``nth`` request matching ``match``."""
        self._arm(_Fault("before", match, nth))

    def cut_after(
        self,
        match: Match = None,
        *,
        nth: int = 1,
        at: Literal["reply", "sent"] = "reply",
    ) -> None:
        """Forward the ``nth`` request matching ``match``, then close before its reply arrives.

        ``at="reply"`` (the default) closes when the server's reply comes back,
        so the server surely executed the request; ``at="sent"`` closes right
        after forwarding it, for requests that block on the server.
        """
        self._arm(_Fault("after", match, nth, at=at))

    def cut_mid_reply(self, match: Match = None, *, nth: int = 1, keep: int = 1) -> None:
        """Forward the request; pass the first ``keep`` bytes of its reply, then close."""
        if keep < 1:
            raise ConfigurationError(f"keep must be at least 1 byte, got {keep!r}")
        self._arm(_Fault("mid", match, nth, keep=keep))

    def pause_on(self, match: Match = None, *, seconds: float, nth: int = 1) -> None:
        """Hold the ``nth`` request matching ``match`` and all traffic for ``seconds``, then resume.

        A server that stalls while serving one operation, as seen from both
        sides: the request arrives ``seconds`` late, and nothing moves
        meanwhile (the client's other requests, the server's replies). A
        client that gives up meanwhile closes its connection; the held
        request then never arrives.
        """
        if seconds <= 0:
            raise ConfigurationError(f"seconds must be > 0, got {seconds!r}")
        self._arm(_Fault("pause", match, nth, seconds=seconds))

    @property
    def fired(self) -> int:
        """How many one-shot faults have fired so far."""
        with self._lock:
            return self._fired

    @property
    def armed(self) -> int:
        """How many one-shot faults wait to fire."""
        with self._lock:
            return len(self._faults)

    @property
    def connections(self) -> int:
        """How many client connections are open."""
        with self._lock:
            return len(self._links)

    @property
    def accepted(self) -> int:
        """How many client connections were accepted so far (refused ones not counted)."""
        with self._lock:
            return self._accepted

    def wait_fired(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` one-shot faults fired; False on timeout."""
        with self._fired_cond:
            return self._fired_cond.wait_for(lambda: self._fired >= count, timeout)

    def _arm(self, fault: _Fault) -> None:
        if fault.nth < 1:
            raise ConfigurationError(f"nth must be at least 1, got {fault.nth!r}")
        with self._lock:
            self._faults.append(fault)

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = _TICK
            with self._lock:
                if self._resume_at is not None and time.monotonic() >= self._resume_at:
                    self._paused, self._resume_at = False, None
                if self._delayed and not self._paused:
                    timeout = max(0.0, min(timeout, self._delayed[0][0] - time.monotonic()))
            events = self._selector.select(timeout)
            with self._lock:
                for key, _ in events:
                    if key.data is None:
                        self._accept()
                    else:
                        self._read(key.data, key.fileobj)  # type: ignore[arg-type]
                self._flush_delayed()
                self._update_interest()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        if self._refusing:
            _reset(client)
            return
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        for sock in (client, server):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, server)
        self._links.add(link)
        self._accepted += 1
        self._selector.register(client, selectors.EVENT_READ, link)
        self._selector.register(server, selectors.EVENT_READ, link)

    def _read(self, link: _Link, sock: socket.socket) -> None:
        if link.closed:
            return
        try:
            data = sock.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(link)
            return
        if sock is link.client:
            self._from_client(link, data)
        else:
            self._from_server(link, data)

    def _from_client(self, link: _Link, data: bytes) -> None:
        fault = self._matching(data)
        if fault is not None and fault.kind == "before":
            self._fire()
            self._drop(link)
            return
        if fault is not None and fault.kind == "pause":
            self._fire()
            self._paused = True
            self._resume_at = time.monotonic() + fault.seconds
            heapq.heappush(self._delayed, (0.0, next(self._order), link, link.server, data))
            return
        self._forward(link, link.server, data)
        if fault is not None:
            if fault.kind == "after" and fault.at == "sent":
                self._fire()
                self._flush_link(link)
                self._drop(link)
            else:
                link.doomed = fault

    def _from_server(self, link: _Link, data: bytes) -> None:
        fault = link.doomed
        if fault is not None:
            link.doomed = None
            self._fire()
            if fault.kind == "mid":
                self._send_now(link, link.client, data[: fault.keep])
            self._drop(link)
            return
        self._forward(link, link.client, data)

    def _matching(self, data: bytes) -> _Fault | None:
        for fault in self._faults:
            if _matches(fault.match, data):
                fault.seen += 1
                if fault.seen >= fault.nth:
                    self._faults.remove(fault)
                    return fault
                return None
        return None

    def _fire(self) -> None:
        self._fired += 1
        self._fired_cond.notify_all()

    def _forward(self, link: _Link, dest: socket.socket, data: bytes) -> None:
        if self._paused:  # read in the same round as a pause_on: it waits too
            heapq.heappush(self._delayed, (0.0, next(self._order), link, dest, data))
        elif self._delay > 0:
            due = time.monotonic() + self._delay
            heapq.heappush(self._delayed, (due, next(self._order), link, dest, data))
        else:
            self._send_now(link, dest, data)

    def _flush_delayed(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now and not self._paused:
            _, _, link, dest, data = heapq.heappop(self._delayed)
            if not link.closed:
                self._send_now(link, dest, data)

    def _send_now(self, link: _Link, dest: socket.socket, data: bytes) -> None:
        buffer = link.pending.setdefault(dest, bytearray())
        buffer += data
        self._flush_link(link)

    def _flush_link(self, link: _Link) -> None:
        for dest, buffer in link.pending.items():
            while buffer and not link.closed:
                try:
                    sent = dest.send(buffer)
                except BlockingIOError:
                    break
                except OSError:
                    self._drop(link)
                    return
                del buffer[:sent]

    def _update_interest(self) -> None:
        # Paused: read nothing, so data waits in the kernel's buffers and the
        # peers see silence, as on a stalled network.
        for link in list(self._links):
            self._flush_link(link)  # may drop it
            if link.closed:
                continue
            for sock in (link.client, link.server):
                events = 0 if self._paused else selectors.EVENT_READ
                if link.pending.get(sock):
                    events |= selectors.EVENT_WRITE
                _modify(self._selector, sock, events, link)

    def _drop(self, link: _Link) -> None:
        if link.closed:
            return
        link.closed = True
        self._links.discard(link)
        for sock in (link.client, link.server):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            _reset(sock)


def _matches(match: Match, data: bytes) -> bool:
    if match is None:
        return True
    if isinstance(match, bytes):
        return match in data
    return bool(match(data))


def _modify(
    selector: selectors.BaseSelector, sock: socket.socket, events: int, link: _Link
) -> None:
    try:
        registered = selector.get_key(sock).events
    except (KeyError, ValueError):
        registered = None
    if events == registered:
        return
    if registered is not None:
        selector.unregister(sock)
    if events:
        selector.register(sock, events, link)


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer sees an abrupt loss, as from a cut cable."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
