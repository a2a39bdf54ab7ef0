"""A private PostgreSQL cluster, and a server able to prepare transactions for 2PC tests.

Failure behaviour first: :class:`PostgresServer` raises
:class:`~accord.testing.errors.ServiceUnavailable` when PostgreSQL's server
binaries (``initdb``, ``postgres``) are not found, when ``initdb`` fails, or
when the server does not become ready; the message says what was tried and
ends with the last lines of the log. :func:`two_phase_postgres_url` raises it
when neither the configured server nor a private cluster can prepare
transactions, giving both reasons.

Why a private cluster: two-phase commit needs ``max_prepared_transactions``
> 0, and a fresh PostgreSQL install has 0. Changing it means editing the
server's configuration and restarting it, which a test suite or a demo must
never do to a user's server. So when the configured server cannot prepare,
accord starts its own cluster from the installed binaries: ``initdb`` into a
temporary directory, then ``postgres`` on a free loopback port with
``max_prepared_transactions`` set. It is removed when closed, or when the
process exits. Measured here: about 1.5 s to initialise and start.

When the process runs as root (PostgreSQL refuses to), the cluster runs as
the ``postgres`` user, which every Debian/Ubuntu PostgreSQL package creates.

This module imports no test framework; psycopg is imported only to check the
configured server.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from accord.core.urls import redact
from accord.testing import _env
from accord.testing.errors import ServiceUnavailable
from accord.testing.process import LOOPBACK, ServerProcess

__all__ = [
    "PostgresServer",
    "close_shared_postgres",
    "max_prepared_transactions",
    "postgres_bindir",
    "prepared_transactions_problem",
    "shared_postgres",
    "started_shared_postgres",
    "two_phase_postgres_url",
]

POSTGRES = "PostgreSQL"
BINDIR = "ACCORD_TEST_POSTGRES_BINDIR"
_INSTALL_HINT = (
    "install PostgreSQL's server (Debian/Ubuntu: apt-get install postgresql) or set "
    f"{BINDIR} to the directory holding initdb and postgres"
)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def postgres_bindir() -> Path | None:
    """The directory with ``initdb`` and ``postgres``, or None if not found.

    Looked for in ``$ACCORD_TEST_POSTGRES_BINDIR``, then beside an ``initdb``
    on ``PATH`` (symbolic links followed: Debian links it from
    ``/usr/local/bin``), then in Debian's ``/usr/lib/postgresql/<version>/bin``
    (newest first), where the server binaries live outside ``PATH``.
    """
    candidates: list[str] = []
    if configured := os.environ.get(BINDIR):
        candidates.append(configured)
    if initdb := shutil.which("initdb"):
        candidates.append(os.path.dirname(os.path.realpath(initdb)))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for directory in candidates:
        path = Path(directory)
        if (path / "initdb").is_file() and (path / "postgres").is_file():
            return path
    return None


class PostgresServer(ServerProcess):
    """A PostgreSQL cluster of its own, initialised in :attr:`workdir` on first start.

    ``settings`` are passed as ``-c name=value`` (``max_prepared_transactions``
    is 64 unless given). Its data survives :meth:`stop`, :meth:`kill` and
    :meth:`restart`, as a real server's does; :meth:`close` removes it.
    :meth:`stop` is a fast shutdown (SIGINT: sessions are ended, nothing is
    lost); :meth:`kill` is a crash (SIGKILL), after which PostgreSQL
    recovers from its WAL on the next start.

    Authentication is ``trust`` for the superuser ``postgres`` on loopback and
    on the Unix socket in :attr:`workdir`. Raises :class:`ServiceUnavailable`
    as described in the module docstring.
    """

    service = POSTGRES
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT

    def __init__(
        self,
        port: int | None = None,
        *,
        bindir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, object] | None = None,
        host: str = LOOPBACK,
        workdir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(port, host=host, workdir=workdir, startup_timeout=startup_timeout)
        self._bindir = Path(bindir) if bindir is not None else None
        self.settings = {"max_prepared_transactions": 64, **(settings or {})}

    @property
    def url(self) -> str:
        """``postgresql://postgres@host:port/postgres``: the superuser, maintenance database."""
        return f"postgresql://postgres@{self.host}:{self._port}/postgres"

    @property
    def data_directory(self) -> Path:
        """The cluster's data directory (``PGDATA``)."""
        return self.workdir / "data"

    @property
    def bindir(self) -> Path:
        """Where ``initdb`` and ``postgres`` are; raises :class:`ServiceUnavailable` if nowhere."""
        found = self._bindir or postgres_bindir()
        if found is None:
            raise ServiceUnavailable(
                POSTGRES, f"PostgreSQL's server binaries were not found; {_INSTALL_HINT}"
            )
        return found

    def check_installed(self) -> None:
        """Raise :class:`ServiceUnavailable` if the binaries or the run-as user are missing."""
        _ = self.bindir
        self.credentials()

    def credentials(self) -> list[str]:
        """``setpriv`` options to run as ``postgres`` when this process is root, else ``[]``."""
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise ServiceUnavailable(
                POSTGRES,
                "running as root, and PostgreSQL refuses to run as root, but there is no "
                "'postgres' user to run it as; create one (useradd --system postgres)",
            ) from None
        if shutil.which("setpriv") is None:
            raise ServiceUnavailable(
                POSTGRES, "running as root needs setpriv (util-linux) to run PostgreSQL as postgres"
            )
        return ["--reuid=postgres", "--regid=postgres", "--init-groups"]

    def prepare(self) -> None:
        """Run ``initdb`` once (the data directory then persists across restarts)."""
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        if (self.data_directory / "PG_VERSION").exists():
            return
        command = [
            str(self.bindir / "initdb"),
            "--pgdata", str(self.data_directory),
            "--username", "postgres",
            "--auth", "trust",
            "--encoding", "UTF8",
            "--locale", "C",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        prefix = ["setpriv", *self.credentials(), "--"] if self.credentials() else []
        result = subprocess.run(
            prefix + command, cwd=self.workdir, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServiceUnavailable(
                POSTGRES,
                f"initdb into {self.data_directory} failed with code {result.returncode}:\n"
                + (result.stderr or result.stdout)[-2000:],
            )

    def command(self) -> list[str]:
        """``postgres -D data -p port`` on loopback, its socket in :attr:`workdir`."""
        options = [f"-c{name}={value}" for name, value in self.settings.items()]
        return [
            str(self.bindir / "postgres"),
            "-D", str(self.data_directory),
            "-p", str(self._port),
            "-k", str(self.workdir),
            f"-clisten_addresses={self.host}",
            *options,
        ]  # fmt: skip

    def is_ready(self) -> bool:
        """True when the server accepts connections (``pg_isready``)."""
        if self._proc is None:
            return False
        ready = self.bindir / "pg_isready"
        result = subprocess.run(
            [str(ready), "-q", "-h", self.host, "-p", str(self._port), "-t", "1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return result.returncode == 0


_shared: PostgresServer | None = None
_shared_lock = threading.Lock()


def shared_postgres() -> PostgresServer:
    """This process's private cluster, started on first use and closed when the process exits.

    Raises :class:`ServiceUnavailable` as :class:`PostgresServer` does.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PostgresServer()
        _shared.resume()  # harmless unless a test paused it
        _shared.start()  # a no-op while it runs
        return _shared


def started_shared_postgres() -> PostgresServer | None:
    """The cluster :func:`shared_postgres` started in this process, or None if it did not."""
    return _shared


def close_shared_postgres() -> None:
    """Stop and remove the cluster :func:`shared_postgres` started, if any. Never raises."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
            _shared = None


def prepared_transactions_problem(value: int) -> str | None:
    """Why PostgreSQL with ``max_prepared_transactions = value`` cannot run 2PC tests, or None."""
    if value > 0:
        return None
    return (
        f"max_prepared_transactions is {value}, so PREPARE TRANSACTION "
        "fails; run ALTER SYSTEM SET max_prepared_transactions = 64 as a superuser and "
        "restart PostgreSQL (Debian: pg_ctlcluster <version> main restart)"
    )


def max_prepared_transactions(url: str) -> int:
    """``SHOW max_prepared_transactions`` on the server at ``url``.

    Raises :class:`ServiceUnavailable` if psycopg is missing or the server
    cannot be reached.
    """
    try:
        import psycopg
    except ImportError:
        raise ServiceUnavailable(
            POSTGRES, "the psycopg driver is not installed: pip install 'accord[postgres]'"
        ) from None
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SHOW max_prepared_transactions").fetchone()
    except psycopg.Error as exc:
        raise ServiceUnavailable(
            POSTGRES, f"cannot connect to {redact(url)} ({' '.join(str(exc).split())})"
        ) from exc
    assert row is not None
    return int(row[0])


def two_phase_postgres_url(url: str | None = None) -> str:
    """A superuser URL of a PostgreSQL server that can prepare transactions.

    With ``url``, or ``$ACCORD_TEST_POSTGRES_URL`` set, that server is used
    as it is: :class:`ServiceUnavailable` if it cannot be reached or has
    ``max_prepared_transactions = 0`` (accord never reconfigures a server it
    was pointed at). Otherwise the default server (127.0.0.1:5432) is used
    when it can prepare transactions, and :func:`shared_postgres` when it
    cannot or is not running; the error then gives both reasons.
    """
    chosen = url or os.environ.get(_env.POSTGRES_URL)
    if chosen:
        problem = prepared_transactions_problem(max_prepared_transactions(chosen))
        if problem:
            raise ServiceUnavailable(
                POSTGRES,
                f"{redact(chosen)}: {problem}; or unset {_env.POSTGRES_URL} to let accord "
                "start a private cluster",
            )
        return chosen
    default = _env.DEFAULTS[_env.POSTGRES_URL]
    try:
        value = max_prepared_transactions(default)
    except ServiceUnavailable as exc:
        why_not_default = exc.reason
    else:
        if value > 0:
            return default
        why_not_default = f"{default} has max_prepared_transactions = {value}"
    try:
        return shared_postgres().url
    except ServiceUnavailable as exc:
        raise ServiceUnavailable(
            POSTGRES,
            f"{why_not_default}, and a private cluster could not be started: {exc.reason}",
        ) from exc
