"""A private MariaDB server, and a replica of it: real servers for replication tests.

Failure behaviour first: :class:`MariaDBServer` raises
:class:`~accord.testing.errors.ServiceUnavailable` when ``mariadbd`` or
``mariadb-install-db`` is not found, when the data directory cannot be
initialised (the message ends with the tool's output), or when the server
does not answer in time; :meth:`MariaDBServer.replicate_from` raises it when
replication does not start.

Why: the shared MariaDB at 127.0.0.1:3306 must not be reconfigured, but a
replication test needs a server with the binary log on, and a replica that
applies it (a MariaDB replica applies ``XA PREPARE`` and lists the branch in
``XA RECOVER``, where two-phase-commit recovery must not resolve it). Each
:class:`MariaDBServer` has its own data directory, a free loopback port and a
socket in its working directory; ``root`` has no password. When this process
runs as root, the server runs as the ``mysql`` user, which Debian's package
creates. Use::

    with MariaDBServer(server_id=1) as primary, MariaDBServer(server_id=2) as replica:
        replica.replicate_from(primary)
        ...  # replica.url serves what primary.url writes

This module imports no test framework; the client is the ``mariadb``
command-line tool, so no driver is needed to run the servers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from accord.testing.errors import ServerMisbehaved, ServiceUnavailable
from accord.testing.process import LOOPBACK, ServerProcess

__all__ = ["MariaDBServer"]

MARIADB = "MariaDB"
_HINT = "install MariaDB's server (Debian/Ubuntu: apt-get install mariadb-server)"


def _tool(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path is None and os.path.exists(f"/usr/sbin/{name}"):
            path = f"/usr/sbin/{name}"
        if path:
            return path
    return None


class MariaDBServer(ServerProcess):
    """A MariaDB server of its own, initialised in :attr:`workdir` on first start.

    ``server_id`` must differ between a primary and its replicas; the binary
    log is on (``log_bin``, row format), so any server can be a primary. Its
    data survives :meth:`stop`, :meth:`kill` and :meth:`restart`.
    """

    service = MARIADB

    def __init__(
        self,
        port: int | None = None,
        *,
        server_id: int = 1,
        host: str = LOOPBACK,
        workdir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(port, host=host, workdir=workdir, startup_timeout=startup_timeout)
        self.server_id = server_id

    @property
    def url(self) -> str:
        """``mysql://root@host:port/``, the form ``ACCORD_TEST_MYSQL_URL`` takes."""
        return f"mysql://root@{self.host}:{self._port}/"

    def _user(self) -> list[str]:
        return ["--user=mysql"] if os.geteuid() == 0 else []

    def check_installed(self) -> None:
        """Raise :class:`ServiceUnavailable` if the server or its install tool is missing."""
        if _tool("mariadbd", "mysqld") is None or _tool("mariadb-install-db") is None:
            raise ServiceUnavailable(MARIADB, f"mariadbd or mariadb-install-db not found; {_HINT}")
        if _tool("mariadb", "mysql") is None:
            raise ServiceUnavailable(MARIADB, f"the mariadb client was not found; {_HINT}")

    def prepare(self) -> None:
        """Create the system tables once (the data directory then persists)."""
        data = self.workdir / "data"
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam("mysql")
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        if (data / "mysql").exists():
            return
        installer = _tool("mariadb-install-db")
        assert installer is not None
        result = subprocess.run(
            [
                installer,
                *self._user(),
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceUnavailable(
                MARIADB,
                f"mariadb-install-db into {data} failed with code {result.returncode}:\n"
                + (result.stderr or result.stdout)[-2000:],
            )

    def command(self) -> list[str]:
        """``mariadbd`` on loopback with the binary log on and its own socket."""
        server = _tool("mariadbd", "mysqld")
        assert server is not None
        return [
            server,
            "--no-defaults",
            *self._user(),
            f"--datadir={self.workdir / 'data'}",
            f"--port={self._port}",
            f"--bind-address={self.host}",
            f"--socket={self.workdir / 'mysqld.sock'}",
            f"--pid-file={self.workdir / 'mysqld.pid'}",
            f"--server-id={self.server_id}",
            "--log-bin=binlog",
            "--binlog-format=ROW",
            "--sync-binlog=1",  # durable, as accord's system checks ask of a participant
            "--innodb-flush-log-at-trx-commit=1",
            "--innodb-buffer-pool-size=32M",
            "--skip-name-resolve",
        ]

    def is_ready(self) -> bool:
        """True when the server answers a query over TCP."""
        if self._proc is None:
            return False
        try:
            self.sql("SELECT 1", timeout=2)
        except (OSError, subprocess.SubprocessError):
            return False
        return True

    def sql(self, statements: str, *, timeout: float = 30) -> list[list[str]]:
        """Run ``statements`` as root over TCP; the rows of the last result, as strings.

        Raises :class:`OSError` with the client's message if a statement fails.
        """
        client = _tool("mariadb", "mysql")
        assert client is not None
        result = subprocess.run(
            [client, "--protocol=TCP", f"--host={self.host}", f"--port={self._port}",
             "--user=root", "--batch", "--skip-column-names", "-e", statements],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerMisbehaved(f"MariaDB on {self.host}:{self._port}: {result.stderr.strip()}")
        return [line.split("\t") for line in result.stdout.splitlines()]

    def replicate_from(self, primary: MariaDBServer, timeout: float = 30.0) -> None:
        """Make this server a replica of ``primary`` from its current position, and wait.

        The replica stays writable (not ``read_only``), as a replica promoted
        by hand or misconfigured would be. Raises :class:`ServiceUnavailable`
        if replication is not running within ``timeout`` seconds.
        """
        status = primary.sql("SHOW MASTER STATUS")
        if not status:
            raise ServiceUnavailable(MARIADB, f"{primary!r} has no binary log to replicate")
        log_file, position = status[0][0], status[0][1]
        self.sql(
            f"STOP SLAVE; CHANGE MASTER TO MASTER_HOST='{primary.host}', "
            f"MASTER_PORT={primary.port}, MASTER_USER='root', MASTER_PASSWORD='', "
            f"MASTER_LOG_FILE='{log_file}', MASTER_LOG_POS={position}, MASTER_USE_GTID=no; "
            "START SLAVE"
        )
        deadline = time.monotonic() + timeout
        running: list[list[str]] = []
        while time.monotonic() < deadline:
            # ON once both the I/O and the SQL thread run (MariaDB's global status)
            running = self.sql("SHOW GLOBAL STATUS LIKE 'Slave_running'")
            if running and running[0][-1].upper() == "ON":
                return
            time.sleep(0.1)
        raise ServiceUnavailable(
            MARIADB,
            f"replication from {primary!r} did not start within {timeout} s "
            f"(Slave_running: {running}): {self.sql('SHOW SLAVE STATUS')}",
        )

    def wait_caught_up(self, primary: MariaDBServer, timeout: float = 30.0) -> None:
        """Wait until this replica has applied everything ``primary`` has logged so far."""
        log_file, position = primary.sql("SHOW MASTER STATUS")[0][:2]
        rows = self.sql(
            f"SELECT MASTER_POS_WAIT('{log_file}', {position}, {int(timeout)})", timeout=timeout + 5
        )
        if not rows or rows[0][0] in ("NULL", "-1"):
            raise ServiceUnavailable(
                MARIADB, f"{self!r} did not catch up with {primary!r} within {timeout} s"
            )
