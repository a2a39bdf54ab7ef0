"""The base of accord's test servers: a process on a free loopback port.

Failure behaviour first: a missing binary, or a server that exits or does not
answer before its deadline, raises
:class:`~accord.testing.errors.ServiceUnavailable`; when the server started but
failed, the message ends with the last lines of its log. When ``port`` is left
to accord and the chosen port was taken in the meantime, another free port is
tried (three attempts) so tests never depend on a port being free.

Every server runs in its own process group, so :meth:`ServerProcess.stop` and
:meth:`ServerProcess.kill` reach any child it forks. Servers still running when
the interpreter exits are stopped by an :mod:`atexit` hook (killed if they
take more than 5 s); on Linux they are
also started through ``setpriv --pdeathsig KILL`` (when started from the main
thread), so they die even if the test process itself is killed with SIGKILL.

This module imports no test framework and no optional dependency.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import ClassVar, TypeVar

from accord.testing.errors import ServiceUnavailable

__all__ = ["LOOPBACK", "ServerProcess", "free_port", "pause_process", "paused", "resume_process"]

LOOPBACK = "127.0.0.1"
_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 25

_S = TypeVar("_S", bound="ServerProcess")
_live: set[ServerProcess] = set()
_live_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that is free right now.

    The port is only free at the moment of the call; servers in this module
    retry with another one if it is taken before they bind. Raises
    :class:`OSError` if ``host`` cannot be bound at all.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _kill_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        server.close(timeout=5.0)


atexit.register(_kill_all_at_exit)


def _launch_prefix(credentials: list[str]) -> list[str]:
    # PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so
    # only use it from the main thread, which lives as long as the process.
    # setpriv applies it after changing user, which would otherwise clear it.
    options = list(credentials)
    main_thread = threading.current_thread() is threading.main_thread()
    if sys.platform.startswith("linux") and main_thread:
        options += ["--pdeathsig", "KILL"]
    setpriv = shutil.which("setpriv")
    return [setpriv, *options, "--"] if setpriv and options else []


def pause_process(pid: int, *, group: bool = False) -> None:
    """Freeze process *pid* (its whole process group with ``group=True``) with SIGSTOP.

    A frozen process keeps its sockets, files and locks but runs nothing: a
    long GC pause, a swapped-out VM, a laptop lid closed. Its clocks go on
    (``time.monotonic()`` jumps when it resumes). Returns once *pid* is
    stopped (on Linux; at most 1 s). Raises :class:`ProcessLookupError` if
    there is no such process.
    """
    (os.killpg if group else os.kill)(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 1.0
    while _run_state(pid) not in ("T", "t", None, "Z") and time.monotonic() < deadline:
        time.sleep(0.001)


def _run_state(pid: int) -> str | None:
    """The state letter of *pid* from ``/proc`` (``T``: stopped), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def resume_process(pid: int, *, group: bool = False) -> None:
    """Let a process frozen by :func:`pause_process` run again (SIGCONT). Never raises."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, signal.SIGCONT)


@contextlib.contextmanager
def paused(pid: int, seconds: float | None = None, *, group: bool = False) -> Iterator[None]:
    """Freeze *pid* for the ``with`` block, then resume it, also when the block raises.

    With *seconds*, the block's body runs while the process is frozen and the
    process stays frozen at least that long (from the SIGSTOP), so a test can
    say "paused for longer than the lease" and act meanwhile.
    """
    pause_process(pid, group=group)
    started = time.monotonic()
    try:
        yield
        if seconds is not None:
            time.sleep(max(0.0, started + seconds - time.monotonic()))
    finally:
        resume_process(pid, group=group)


class _PortTaken(Exception):
    pass


class ServerProcess:
    """A server process that tests start, stop, kill and restart on one port.

    Subclasses say how to build the command line and how to tell the server
    is ready. ``port=None`` picks a free loopback port; the port then stays
    the same across :meth:`stop`/:meth:`kill` and :meth:`start`/:meth:`restart`.
    Files (configuration, data, ``server.log``) live in ``workdir``, a fresh
    temporary directory unless one is given; :meth:`close` removes a
    temporary one. Use it as a context manager to start and close it.
    """

    service: ClassVar[str] = "server"
    #: the signal :meth:`stop` sends for an orderly shutdown
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = LOOPBACK,
        workdir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.startup_timeout = startup_timeout
        self._fixed_port = port is not None
        self._port = port if port is not None else free_port(host)
        self._own_workdir = workdir is None
        self._workdir: Path | None = Path(workdir) if workdir is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # -- what subclasses provide -------------------------------------------------

    def check_installed(self) -> None:
        """Raise :class:`ServiceUnavailable` naming what to install if the server is missing."""

    def command(self) -> list[str]:
        """The command line that runs the server in the foreground."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Write configuration files into :attr:`workdir` before each start."""

    def credentials(self) -> list[str]:
        """``setpriv`` options for the user to run the server as (``[]``: this process's)."""
        return []

    def is_ready(self) -> bool:
        """Return True once the server answers on :attr:`port`; never raises."""
        raise NotImplementedError

    # -- state -------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on (fixed once the server first started)."""
        return self._port

    @property
    def pid(self) -> int | None:
        """The server's process id, or None when it is not running."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the server process exists (it may be paused or not yet ready)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def workdir(self) -> Path:
        """The directory with the server's files; created on first use."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"accord-{self.service.lower()}-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        return self._workdir

    @property
    def log_path(self) -> Path:
        """The file that receives the server's stdout and stderr (appended across restarts)."""
        return self.workdir / "server.log"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines the server logged since it was last started ('' if none)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle ----------------------------------------------------------------

    def start(self: _S) -> _S:
        """Start the server and wait until it answers; a no-op if it runs already.

        Raises :class:`ServiceUnavailable` if it is not installed, exits early,
        or is not ready within ``startup_timeout`` seconds (it is then killed).
        """
        if self.running:
            return self
        self.check_installed()
        attempts = 1 if self._fixed_port else _PORT_ATTEMPTS
        for attempt in range(attempts):
            try:
                self._launch()
            except _PortTaken:
                if attempt == attempts - 1:
                    raise ServiceUnavailable(
                        self.service,
                        f"no free port found after {attempts} attempts; last tried {self._port}",
                    ) from None
                self._port = free_port(self.host)
            else:
                return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server with :attr:`stop_signal` (SIGKILL after ``timeout`` s); keep its files.

        A no-op when it is not running. Use :meth:`start` to bring it back on the same port.
        """
        self._signal_and_reap(self.stop_signal, timeout)

    def kill(self) -> None:
        """Kill the server's process group with SIGKILL, as a crash would; keep its files."""
        self._signal_and_reap(signal.SIGKILL, 10.0)

    def restart(self: _S, *, kill: bool = False) -> _S:
        """Stop (or, with ``kill=True``, SIGKILL) the server and start it on the same port.

        Raises :class:`ServiceUnavailable` like :meth:`start`.
        """
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def pause(self) -> None:
        """Freeze the server with SIGSTOP: it keeps its port but answers nothing."""
        self._send(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        self._send(signal.SIGCONT)

    def close(self, *, graceful: bool = True, timeout: float = 10.0) -> None:
        """Stop the server and delete its files if accord created the directory. Never raises.

        ``graceful=False`` kills it instead; a graceful stop that takes longer
        than ``timeout`` seconds ends with SIGKILL.
        """
        try:
            if graceful:
                self.stop(timeout)
            else:
                self.kill()
        finally:
            if self._own_workdir and self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self._port} {state}>"

    # -- internals -----------------------------------------------------------------

    def _launch(self) -> None:
        if _port_is_open(self.host, self._port):
            if not self._fixed_port:
                raise _PortTaken
            raise ServiceUnavailable(
                self.service, f"port {self.host}:{self._port} is already in use by another process"
            )
        self.prepare()
        argv = _launch_prefix(self.credentials()) + self.command()
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        self._proc = proc
        with _live_lock:
            _live.add(self)
        self._wait_ready(proc)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.01
        while not self.is_ready():
            code = proc.poll()
            if code is not None:
                self._forget()
                tail = self.log_tail()
                if not self._fixed_port and "address already in use" in tail.lower():
                    raise _PortTaken
                raise ServiceUnavailable(
                    self.service,
                    f"{self.command()[0]} exited with code {code} before it was ready on "
                    f"{self.host}:{self._port}; last lines of {self.log_path}:\n{tail}",
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ServiceUnavailable(
                    self.service,
                    f"not ready on {self.host}:{self._port} within {self.startup_timeout} s; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    def _send(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _signal_and_reap(self, sig: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._send(sig)
            self._send(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._send(signal.SIGKILL)
                proc.wait()
        self._send(signal.SIGKILL)  # anything the server forked into its group
        self._forget()

    def _forget(self) -> None:
        self._proc = None
        with _live_lock:
            _live.discard(self)
