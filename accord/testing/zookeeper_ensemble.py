"""A ZooKeeper ensemble of three servers on free loopback ports, for tests of leader loss.

Failure behaviour first: a missing Java or ZooKeeper jar, a member that will
not start, or an ensemble that elects no leader before its deadline raises
:class:`~accord.testing.errors.ServiceUnavailable` (the member's log tail in the
message). The controls (:meth:`ZooKeeperEnsemble.kill_leader`,
:meth:`ZooKeeperEnsemble.wait_for_leader`, ...) raise ``TimeoutError`` when
the ensemble does not reach the awaited state in time, with what it saw.

Each :class:`EnsembleMember` is a ``QuorumPeerMain`` with its own data
directory (and ``myid``), client port, quorum port and election port, all on
loopback. Who leads is read with the ``srvr`` four-letter word (``Mode:
leader``/``follower``; a member without a quorum answers that it is not
serving). Timings are short so that tests of faults are quick: ``tickTime``
500 ms, a follower that stops answering is dropped after ``syncLimit`` (5)
ticks, sessions may be as short as 1 s, and an election after a leader kill
takes about a second.

Controls: :meth:`~ZooKeeperEnsemble.leader`, :meth:`~ZooKeeperEnsemble.followers`,
:meth:`~ZooKeeperEnsemble.kill_leader`, :meth:`~ZooKeeperEnsemble.kill_follower`,
``member.pause()``/``member.resume()`` (SIGSTOP/SIGCONT: alive but silent, so
the others see it partitioned away), ``member.restart()``,
:meth:`~ZooKeeperEnsemble.wait_for_leader` and :meth:`~ZooKeeperEnsemble.reset`,
which brings every member back and waits until all three serve.

This module imports no test framework and no optional dependency.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

from accord.core.errors import ConfigurationError
from accord.testing.errors import HarnessTimeout, ServiceUnavailable
from accord.testing.redis_ha import free_ports
from accord.testing.servers import ZooKeeperServer

__all__ = ["EnsembleMember", "ZooKeeperEnsemble"]

_NOT_SERVING = "not currently serving"


class EnsembleMember(ZooKeeperServer):
    """Member ``myid`` of an ensemble whose members are *peers* ``(client, quorum, election)``.

    Ready (for :meth:`start`) once it answers ``ruok``: a member alone cannot
    serve, so waiting for a quorum is the ensemble's job
    (:meth:`ZooKeeperEnsemble.wait_ready`). :meth:`mode` says what it is now.
    """

    main_class = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

    def __init__(
        self,
        myid: int,
        peers: list[tuple[int, int, int]],
        *,
        sync_limit: int = 5,
        **kwargs: object,
    ) -> None:
        super().__init__(peers[myid - 1][0], **kwargs)  # type: ignore[arg-type]
        self.myid = myid
        self.peers = peers
        self.sync_limit = sync_limit

    def config(self) -> dict[str, object]:
        """The standalone entries plus the peers, every four-letter word, and short limits."""
        config = super().config()
        (self.workdir / "data" / "myid").write_text(f"{self.myid}\n")
        config.update(
            {
                "initLimit": 10,
                "syncLimit": self.sync_limit,
                "4lw.commands.whitelist": "*",
                "reconfigEnabled": "false",
                "standaloneEnabled": "false",
            }
        )
        for number, (client, quorum, election) in enumerate(self.peers, start=1):
            config[f"server.{number}"] = f"{self.host}:{quorum}:{election};{self.host}:{client}"
        return config

    def java_options(self) -> list[str]:
        """Give up on an unreachable peer's election port after 1 s (5 s by default)."""
        return [*super().java_options(), "-Dzookeeper.cnxTimeout=1000", "-Xmx128m"]

    def is_ready(self) -> bool:
        """True once the process answers ``ruok`` (it may not serve yet: see :meth:`mode`)."""
        try:
            return self.four_letter_word("ruok", timeout=0.5).startswith("imok")
        except OSError:
            return False

    def mode(self) -> str | None:
        """``"leader"`` or ``"follower"`` while it serves; None when it does not (or is down)."""
        if not self.running:
            return None
        try:
            reply = self.four_letter_word("srvr", timeout=0.5)
        except OSError:
            return None
        if _NOT_SERVING in reply:
            return None
        for line in reply.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<EnsembleMember {self.myid} {self.host}:{self.port} {state}>"


class ZooKeeperEnsemble:
    """Three (``size``) ZooKeeper servers forming one ensemble; see the module docstring.

    ``members[i]`` has ``myid`` ``i + 1``. :attr:`hosts` is the connection
    string kazoo takes, :meth:`url` the ``zookeeper://`` URL accord reads.
    Use it as a context manager, or :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        tick_time: int = 500,
        sync_limit: int = 5,
        min_session_timeout: int = 1000,
        startup_timeout: float = 60.0,
        workdir: str | os.PathLike[str] | None = None,
        classpath: str | None = None,
        java: str | None = None,
    ) -> None:
        if size < 3 or size % 2 == 0:
            raise ConfigurationError(
                f"size={size!r} is invalid: an ensemble has an odd number >= 3"
            )
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="accord-zookeeper-ensemble-"))
        self.startup_timeout = startup_timeout
        ports = free_ports(3 * size)
        peers = [(ports[i], ports[size + i], ports[2 * size + i]) for i in range(size)]
        self.members: list[EnsembleMember] = [
            EnsembleMember(
                i + 1,
                peers,
                sync_limit=sync_limit,
                tick_time=tick_time,
                min_session_timeout=min_session_timeout,
                workdir=self.workdir / f"member-{i + 1}",
                classpath=classpath,
                java=java,
                startup_timeout=startup_timeout,
            )
            for i in range(size)
        ]

    # -- addresses -----------------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """``h:p,h:p,h:p``: every member's client address, as kazoo takes it."""
        return ",".join(member.hosts for member in self.members)

    def url(self, path: str = "", *, user: str = "", password: str = "") -> str:
        """``zookeeper://[user:password@]h:p,h:p,h:p[/path]``."""
        auth = f"{user}:{password}@" if user else ""
        return f"zookeeper://{auth}{self.hosts}{path}"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> ZooKeeperEnsemble:
        """Start every member that is down and wait until all serve. Idempotent."""
        for member in self.members:
            member.start()
        self.wait_ready()
        return self

    def close(self) -> None:
        """Kill every member and delete the files. Never raises."""
        for member in self.members:
            member.close(graceful=False)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ZooKeeperEnsemble:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def reset(self) -> None:
        """Resume paused members, start killed ones, wait until every member serves."""
        for member in self.members:
            member.resume()
        self.start()

    # -- who leads -----------------------------------------------------------------------

    def modes(self) -> dict[int, str | None]:
        """``myid -> "leader" | "follower" | None`` (None: down, paused or without quorum)."""
        return {member.myid: member.mode() for member in self.members}

    def leader(self) -> EnsembleMember | None:
        """The member that says it leads, or None (during an election, or without quorum)."""
        for member in self.members:
            if member.mode() == "leader":
                return member
        return None

    def followers(self) -> list[EnsembleMember]:
        """The members that say they follow a leader."""
        return [member for member in self.members if member.mode() == "follower"]

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every running, unpaused member serves and one of them leads.

        Raises :class:`ServiceUnavailable` (with each member's log tail) when
        that does not happen within *timeout* (``startup_timeout``).
        """
        limit = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            modes = self.modes()
            live = [m for m in self.members if m.running]
            if all(modes[m.myid] for m in live) and "leader" in modes.values():
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"-- member {m.myid}:\n{m.log_tail(8)}" for m in self.members)
                raise ServiceUnavailable(
                    "ZooKeeper ensemble",
                    f"no leader with every member serving within {limit} s (modes {modes}); "
                    f"last lines of the logs:\n{tails}",
                )
            time.sleep(0.05)

    def wait_for_leader(
        self, *, other_than: EnsembleMember | None = None, timeout: float = 30.0
    ) -> EnsembleMember:
        """Wait until a member other than *other_than* leads with a quorum behind it."""
        deadline = time.monotonic() + timeout
        while True:
            modes = self.modes()
            leader = next((m for m in self.members if modes[m.myid] == "leader"), None)
            serving = sum(1 for mode in modes.values() if mode)
            if leader is not None and leader is not other_than and serving > len(modes) // 2:
                return leader
            if time.monotonic() > deadline:
                raise HarnessTimeout(
                    f"no new leader (other than {other_than!r}) within {timeout} s; modes {modes}"
                )
            time.sleep(0.02)

    def kill_leader(self) -> EnsembleMember:
        """SIGKILL the current leader (waiting for one first); return it."""
        leader = self.wait_for_leader()
        leader.kill()
        return leader

    def kill_follower(self) -> EnsembleMember:
        """SIGKILL one follower; return it. The leader keeps its quorum."""
        self.wait_for_leader()
        follower = self.followers()[0]
        follower.kill()
        return follower

    def member_serving(self, hosts: str) -> EnsembleMember:
        """The member whose client address is *hosts* (``host:port``)."""
        for member in self.members:
            if member.hosts == hosts:
                return member
        raise ConfigurationError(f"{hosts!r} is not a member of this ensemble ({self.hosts})")

    def __repr__(self) -> str:
        return f"<ZooKeeperEnsemble {self.hosts} modes={self.modes()}>"
