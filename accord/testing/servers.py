"""Real Redis and ZooKeeper servers on free loopback ports, for tests.

Failure behaviour first: a missing ``redis-server``, Java or ZooKeeper jar, or
a server that exits or does not answer before its deadline, raises
:class:`~accord.testing.errors.ServiceUnavailable`; when the server started but
failed, the message ends with the last lines of its log. Process handling
(own process group, no leaks, retries on a taken port) is described in
:mod:`accord.testing.process`.

This module imports no test framework and no optional dependency.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
from collections.abc import Sequence
from typing import Literal

from accord.core.errors import ConfigurationError
from accord.testing.errors import HarnessError, ServerMisbehaved, ServiceUnavailable
from accord.testing.process import LOOPBACK, ServerProcess, free_port

__all__ = [
    "LOOPBACK",
    "ZOOKEEPER_SUPERUSER",
    "RedisServer",
    "ServerProcess",
    "ZooKeeperServer",
    "free_port",
]


class RedisServer(ServerProcess):
    """A ``redis-server``, by default without persistence (``--save "" --appendonly no``).

    The binary is ``executable``, else ``$ACCORD_TEST_REDIS_SERVER``, else
    ``redis-server`` on ``PATH``; if none is found :meth:`start` raises
    :class:`ServiceUnavailable`. ``extra_args`` are appended to the command line.

    ``persistence`` chooses what survives a :meth:`kill` and :meth:`restart`:
    ``"none"`` (nothing), ``"rdb"`` (the last snapshot: ``SAVE`` or
    ``BGSAVE`` takes one, and the server would take one hourly; writes since
    are lost on SIGKILL) or ``"aof"`` (every write, ``appendfsync everysec``:
    a SIGKILL of the server loses nothing the OS received). :meth:`wipe_data`
    deletes the files, for a restart without data.
    """

    service = "Redis"

    def __init__(
        self,
        port: int | None = None,
        *,
        executable: str | None = None,
        extra_args: Sequence[str] = (),
        persistence: Literal["none", "rdb", "aof"] = "none",
        host: str = LOOPBACK,
        workdir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        super().__init__(port, host=host, workdir=workdir, startup_timeout=startup_timeout)
        if persistence not in _PERSISTENCE:
            raise ConfigurationError(
                f"persistence={persistence!r} is invalid: expected one of {sorted(_PERSISTENCE)}"
            )
        self.executable = executable or os.environ.get("ACCORD_TEST_REDIS_SERVER", "redis-server")
        self.extra_args = list(extra_args)
        self.persistence = persistence

    @property
    def url(self) -> str:
        """``redis://host:port`` (database 0); append ``/N`` for another database."""
        return f"redis://{self.host}:{self._port}"

    def check_installed(self) -> None:
        """Raise :class:`ServiceUnavailable` if the ``redis-server`` binary is not found."""
        if shutil.which(self.executable) is None:
            raise ServiceUnavailable(
                self.service,
                f"the redis-server binary {self.executable!r} was not found; install it "
                "(Debian/Ubuntu: apt-get install redis-server) or set ACCORD_TEST_REDIS_SERVER "
                "to its path",
            )

    def command(self) -> list[str]:
        """``redis-server`` on this port and host, :attr:`persistence`, files in :attr:`workdir`."""
        return [
            self.executable,
            "--port", str(self._port),
            "--bind", self.host,
            *_PERSISTENCE[self.persistence],
            "--daemonize", "no",
            "--dir", str(self.workdir),
            *self.extra_args,
        ]  # fmt: skip

    def wipe_data(self) -> None:
        """Delete the snapshot and the append-only files, so the next start has no data.

        Raises :class:`RuntimeError` while the server runs (it would write them again).
        """
        if self.running:
            raise HarnessError(f"{self!r} is running: stop or kill it before wiping its data")
        (self.workdir / "dump.rdb").unlink(missing_ok=True)
        shutil.rmtree(self.workdir / "appendonlydir", ignore_errors=True)

    def is_ready(self) -> bool:
        """True when this server (checked by pid, not just the port) answers ``INFO``."""
        if self._proc is None:
            return False
        try:
            reply = self.execute("INFO", "server", timeout=0.5)
        except OSError:
            return False
        return f"process_id:{self._proc.pid}\r\n".encode() in reply

    def execute(self, *args: str, timeout: float = 5.0) -> bytes:
        """Send one command and return the raw RESP reply; OSError if unreachable.

        A tiny client for fixtures (PING, FLUSHALL, INFO) that needs no redis-py.
        """
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        with socket.create_connection((self.host, self._port), timeout=timeout) as sock:
            sock.sendall(b"".join(parts))
            reply = sock.recv(65536)
            if reply.startswith(b"$"):  # a bulk string: read up to its announced length
                header, _, body = reply.partition(b"\r\n")
                size = int(header[1:])
                while size >= 0 and len(body) < size + 2:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                reply = header + b"\r\n" + body
            return reply

    def flushall(self) -> None:
        """Delete every key in every database; OSError if the server is unreachable."""
        reply = self.execute("FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise ServerMisbehaved(f"FLUSHALL on {self.url} answered {reply!r}")


_PERSISTENCE: dict[str, tuple[str, ...]] = {
    "none": ("--save", "", "--appendonly", "no"),
    "rdb": ("--save", "3600 1", "--appendonly", "no"),
    "aof": ("--save", "", "--appendonly", "yes", "--appendfsync", "everysec"),
}

#: ``(user, password)`` of the superuser test ZooKeeper servers accept (digest auth): it may
#: read and delete every znode, whatever its ACL. For tests only.
ZOOKEEPER_SUPERUSER = ("accord-test-super", "accord-test-super")

_DEBIAN_ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
# The Debian jar's manifest lists its dependencies but no logging backend;
# slf4j-simple sends ZooKeeper's log to stderr, i.e. into server.log.
_LOG_BINDINGS = ("/usr/share/java/slf4j-simple.jar",)


class ZooKeeperServer(ServerProcess):
    """A standalone ZooKeeper (``ZooKeeperServerMain``) with its own data directory.

    ``classpath`` is the ZooKeeper jars (``os.pathsep``-joined; ``dir/*``
    works), else ``$ACCORD_TEST_ZOOKEEPER_CLASSPATH``, else Debian's
    ``/usr/share/java/zookeeper.jar``. Java is ``$JAVA_HOME/bin/java`` or
    ``java`` on ``PATH``. If either is missing :meth:`start` raises
    :class:`ServiceUnavailable`. Data survives :meth:`stop`, :meth:`kill` and
    :meth:`restart`, so sessions and znodes do too, as on a real server;
    :meth:`wipe_data` deletes it for a restart without data.
    ``tick_time`` and ``min_session_timeout`` (ms) are low to keep
    session-expiry tests quick.
    """

    service = "ZooKeeper"

    def __init__(
        self,
        port: int | None = None,
        *,
        classpath: str | None = None,
        java: str | None = None,
        tick_time: int = 500,
        min_session_timeout: int = 1000,
        max_session_timeout: int = 60000,
        host: str = LOOPBACK,
        workdir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(port, host=host, workdir=workdir, startup_timeout=startup_timeout)
        self.classpath = classpath or os.environ.get(
            "ACCORD_TEST_ZOOKEEPER_CLASSPATH", _DEBIAN_ZOOKEEPER_JAR
        )
        java_home = os.environ.get("JAVA_HOME")
        self.java = java or (os.path.join(java_home, "bin", "java") if java_home else "java")
        self.tick_time = tick_time
        self.min_session_timeout = min_session_timeout
        self.max_session_timeout = max_session_timeout

    @property
    def hosts(self) -> str:
        """``host:port``, the connection string kazoo's ``KazooClient(hosts=...)`` takes."""
        return f"{self.host}:{self._port}"

    def check_installed(self) -> None:
        """Raise :class:`ServiceUnavailable` if Java or the ZooKeeper jar is not found."""
        hint = "Debian/Ubuntu: apt-get install zookeeper default-jre-headless"
        if shutil.which(self.java) is None:
            raise ServiceUnavailable(
                self.service, f"java ({self.java!r}) was not found ({hint}, or set JAVA_HOME)"
            )
        first = self.classpath.split(os.pathsep)[0]
        if not os.path.exists(first.removesuffix("*")):
            raise ServiceUnavailable(
                self.service,
                f"the ZooKeeper jar {first!r} was not found ({hint}, or set "
                "ACCORD_TEST_ZOOKEEPER_CLASSPATH to the jars of a ZooKeeper download)",
            )

    #: the Java class that runs the server (an ensemble member uses ``QuorumPeerMain``)
    main_class = "org.apache.zookeeper.server.ZooKeeperServerMain"

    def config(self) -> dict[str, object]:
        """The entries of ``zoo.cfg``: standalone, loopback, no admin server."""
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        return {
            "tickTime": self.tick_time,
            "minSessionTimeout": self.min_session_timeout,
            "maxSessionTimeout": self.max_session_timeout,
            "dataDir": data,
            "clientPort": self._port,
            "clientPortAddress": self.host,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "ruok,srvr,stat,mntr,cons,conf",
        }

    def prepare(self) -> None:
        """Write ``zoo.cfg`` (:meth:`config`) into :attr:`workdir`."""
        text = "".join(f"{key}={value}\n" for key, value in self.config().items())
        (self.workdir / "zoo.cfg").write_text(text)

    def wipe_data(self) -> None:
        """Delete the snapshots and transaction logs, so the next start has no data.

        Raises :class:`RuntimeError` while the server runs.
        """
        if self.running:
            raise HarnessError(f"{self!r} is running: stop or kill it before wiping its data")
        shutil.rmtree(self.workdir / "data", ignore_errors=True)

    def command(self) -> list[str]:
        """``java -cp ... ZooKeeperServerMain zoo.cfg``, tuned for a fast start."""
        entries = [self.classpath, *(jar for jar in _LOG_BINDINGS if os.path.exists(jar))]
        return [
            self.java,
            "-Xmx256m",
            *self.java_options(),
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-cp",
            os.pathsep.join(entries),
            self.main_class,
            str(self.workdir / "zoo.cfg"),
        ]

    def java_options(self) -> list[str]:
        """Extra ``java`` options (system properties) before the class name.

        A ZooKeeper superuser (:data:`ZOOKEEPER_SUPERUSER`) is declared, so
        fixtures can remove znodes that tests protected with ACLs.
        """
        user, password = ZOOKEEPER_SUPERUSER
        digest = base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()
        return [f"-Dzookeeper.DigestAuthenticationProvider.superDigest={user}:{digest}"]

    def is_ready(self) -> bool:
        """True when the server serves requests (``srvr`` reports a mode, not just ``imok``)."""
        try:
            return "Mode:" in self.four_letter_word("srvr", timeout=0.5)
        except OSError:
            return False

    def four_letter_word(self, word: str, timeout: float = 5.0) -> str:
        """Send a four-letter word (ruok, srvr, stat, mntr, cons, conf); OSError if unreachable."""
        chunks = []
        with socket.create_connection((self.host, self._port), timeout=timeout) as sock:
            sock.sendall(word.encode())
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
