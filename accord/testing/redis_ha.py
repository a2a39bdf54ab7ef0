"""Highly available Redis for tests: a Sentinel group and a Redis Cluster, on free loopback ports.

Failure behaviour first: a missing ``redis-server`` (or ``redis-cli`` for the
cluster), a server that will not start, or a topology that does not settle
before its deadline raises :class:`~accord.testing.errors.ServiceUnavailable`
naming what was waited for. The control methods (:meth:`SentinelGroup.kill_master`,
:meth:`SentinelGroup.wait_for_promotion`, ...) raise ``TimeoutError`` when
the servers do not reach the awaited state in time, with what they saw.

- :class:`SentinelGroup`: one master, ``replicas`` replicas and ``sentinels``
  Sentinels (1, 1 and 3 by default) monitoring it as ``service``
  (``"mymaster"``). Sentinels declare the master down after
  ``down_after_ms`` (1000) and promote a replica about 2-4 s after the master
  dies. :meth:`SentinelGroup.url` is the ``redis+sentinel://`` URL accord
  reads (see docs/cache.rst).
- :class:`RedisClusterGroup`: ``masters`` masters with ``replicas`` replicas
  each (3 and 1), slots spread by ``redis-cli --cluster create``, node
  timeout ``node_timeout_ms`` (2000). :meth:`RedisClusterGroup.url` is the
  ``redis+cluster://`` URL.

Both keep their servers across tests: :meth:`reset` brings killed or paused
servers back (a killed master returns as a replica of its successor),
waits until the topology is whole again and deletes every key. The pytest
fixtures ``sentinel_group`` and ``redis_cluster`` in
:mod:`accord.testing.pytest_plugin` do that before each test.

This module imports no test framework and no optional dependency.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from accord.testing.errors import HarnessError, HarnessTimeout, ServerMisbehaved, ServiceUnavailable
from accord.testing.process import LOOPBACK
from accord.testing.servers import RedisServer

__all__ = ["RedisClusterGroup", "SentinelGroup", "SentinelServer", "free_ports", "parse_info"]

_T = TypeVar("_T")
# Replicas sync at once (the default waits 5 s for more replicas to share one transfer).
_SYNC_NOW = ["--repl-diskless-sync-delay", "0"]
_G = TypeVar("_G", bound="_Group")


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """*count* distinct ports free right now (bound together, so no two are the same)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def parse_info(reply: bytes) -> dict[str, str]:
    """``key: value`` pairs of a raw ``INFO``/``CLUSTER INFO``/``SENTINEL`` bulk reply."""
    text = reply.decode("utf-8", "replace")
    pairs = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith(("#", "$")):
            pairs[key.strip()] = value.strip()
    return pairs


def _flat_pairs(reply: bytes) -> dict[str, str]:
    """A RESP array of alternating names and values (``SENTINEL MASTER``) as a dict."""
    items = [line for line in reply.decode("utf-8", "replace").split("\r\n") if line]
    values = [item for item in items if not item.startswith(("*", "$"))]
    return dict(zip(values[0::2], values[1::2], strict=False))


def _wait(what: str, check: Callable[[], _T | None], timeout: float) -> _T:
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except OSError as exc:
            result, last = None, exc
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise HarnessTimeout(f"{what} did not happen within {timeout} s (last error: {last!r})")
        time.sleep(0.05)


class SentinelServer(RedisServer):
    """A ``redis-server --sentinel`` monitoring one master as *service*.

    Its configuration file is rewritten by the Sentinel itself (it records the
    other Sentinels and the current master there), so it survives restarts.
    """

    service = "Redis Sentinel"

    def __init__(
        self,
        master: tuple[str, int],
        *,
        name: str = "mymaster",
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.master = master
        self.name = name
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of this Sentinel."""
        return (self.host, self.port)

    def prepare(self) -> None:
        """Write ``sentinel.conf`` once (later starts keep what the Sentinel rewrote)."""
        conf = self.workdir / "sentinel.conf"
        if conf.exists():
            return
        host, port = self.master
        conf.write_text(
            f"port {self.port}\nbind {self.host}\ndir {self.workdir}\n"
            f"sentinel monitor {self.name} {host} {port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {self.name} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.name} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {self.name} 1\n"
        )

    def command(self) -> list[str]:
        """``redis-server sentinel.conf --sentinel``."""
        return [self.executable, str(self.workdir / "sentinel.conf"), "--sentinel"]

    def master_state(self) -> dict[str, str]:
        """``SENTINEL MASTER <name>`` as a dict (``ip``, ``port``, ``num-slaves``, ``flags``...)."""
        return _flat_pairs(self.execute("SENTINEL", "MASTER", self.name, timeout=1.0))

    def master_address(self) -> tuple[str, int]:
        """The master this Sentinel currently names; OSError if it does not answer."""
        state = self.master_state()
        return (state["ip"], int(state["port"]))


class _Group:
    """What both topologies share: a work directory, ``with`` support, close."""

    def __init__(self, workdir: str | os.PathLike[str] | None) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="accord-redis-ha-"))

    def _servers(self) -> list[RedisServer]:
        raise NotImplementedError

    def start(self: _G) -> _G:
        raise NotImplementedError

    def close(self) -> None:
        """Stop every server and delete the files. Never raises."""
        for server in self._servers():
            server.close(graceful=False)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self: _G) -> _G:
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


class SentinelGroup(_Group):
    """One master, its replicas, and the Sentinels that fail it over.

    ``data`` lists the Redis servers (the first is the master at start; after
    a failover :meth:`master` tells which one is). Data servers keep no files
    (no RDB, no AOF), as a cache would run.
    """

    def __init__(
        self,
        *,
        service: str = "mymaster",
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        startup_timeout: float = 30.0,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.service = service
        self.startup_timeout = startup_timeout
        first = RedisServer(workdir=self.workdir / "data-0", extra_args=_SYNC_NOW)
        master = (LOOPBACK, first.port)
        replica_args = [*_SYNC_NOW, "--replicaof", LOOPBACK, str(first.port)]
        self.data: list[RedisServer] = [first] + [
            RedisServer(workdir=self.workdir / f"data-{i + 1}", extra_args=replica_args)
            for i in range(replicas)
        ]
        self.sentinels: list[SentinelServer] = [
            SentinelServer(
                master,
                name=service,
                quorum=sentinels // 2 + 1,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
                workdir=self.workdir / f"sentinel-{i}",
            )
            for i in range(sentinels)
        ]

    def _servers(self) -> list[RedisServer]:
        return [*self.sentinels, *self.data]

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``[(host, port), ...]`` of the Sentinels, as ``redis.sentinel.Sentinel`` takes them."""
        return [s.address for s in self.sentinels]

    def url(self, db: int = 0, *, scheme: str = "redis+sentinel") -> str:
        """``redis+sentinel://h:p,h:p,h:p/<service>/<db>``: the group as accord's URL names it."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinel_addresses)
        return f"{scheme}://{hosts}/{self.service}/{db}"

    def start(self) -> SentinelGroup:
        """Start the data servers, then the Sentinels; wait until they agree. Idempotent."""
        for server in self.data:
            server.start()
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_ready()
        return self

    def master_address(self) -> tuple[str, int]:
        """The master most Sentinels name (OSError if none answers)."""
        votes: dict[tuple[str, int], int] = {}
        for sentinel in self.sentinels:
            try:
                address = sentinel.master_address()
            except (OSError, KeyError, ValueError):
                continue
            votes[address] = votes.get(address, 0) + 1
        if not votes:
            raise ServerMisbehaved(f"no Sentinel of {self.service!r} answered")
        return max(votes, key=votes.__getitem__)

    def master(self) -> RedisServer:
        """The data server the Sentinels currently name as master."""
        _, port = self.master_address()
        for server in self.data:
            if server.port == port:
                return server
        raise HarnessError(f"the Sentinels name port {port}, which is not in this group")

    def role(self, server: RedisServer) -> str:
        """``master`` or ``slave`` as *server* itself reports it (OSError if it does not answer)."""
        return parse_info(server.execute("INFO", "replication", timeout=1.0))["role"]

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every Sentinel sees the same master, all its replicas and the others."""
        replicas = len(self.data) - 1
        others = len(self.sentinels) - 1

        def settled() -> bool:
            addresses = set()
            for sentinel in self.sentinels:
                state = sentinel.master_state()
                if "s_down" in state.get("flags", "") or "o_down" in state.get("flags", ""):
                    return False
                if int(state.get("num-slaves", 0)) < replicas:
                    return False
                if int(state.get("num-other-sentinels", 0)) < others:
                    return False
                addresses.add((state["ip"], int(state["port"])))
            if len(addresses) != 1:
                return False
            master = self.master()
            if self.role(master) != "master":
                return False
            info = parse_info(master.execute("INFO", "replication", timeout=1.0))
            if int(info.get("connected_slaves", 0)) < replicas:
                return False
            return all(
                parse_info(s.execute("INFO", "replication", timeout=1.0)).get("master_link_status")
                == "up"
                for s in self.data
                if s is not master
            )

        try:
            _wait(f"Sentinel group {self.service!r} settling", settled, timeout or 60.0)
        except TimeoutError as exc:
            raise ServiceUnavailable("Redis Sentinel", str(exc)) from exc

    def wait_for_promotion(self, old: tuple[str, int], timeout: float = 30.0) -> tuple[str, int]:
        """Wait until every Sentinel names the same master, not *old*, and it accepts writes."""

        def promoted() -> tuple[str, int] | None:
            states = [sentinel.master_state() for sentinel in self.sentinels]
            addresses = {(state["ip"], int(state["port"])) for state in states}
            if len(addresses) != 1 or old in addresses:
                return None
            if any(state.get("flags") != "master" for state in states):
                return None
            (address,) = addresses
            server = next(s for s in self.data if s.port == address[1])
            return address if self.role(server) == "master" else None

        return _wait(f"promotion of a replica of {old}", promoted, timeout)

    def restart_data(self) -> None:
        """Start the data servers that are down, as replicas of the current master."""
        host, port = self.master_address()
        for server in self.data:
            if not server.running:
                follow = ["--replicaof", host, str(port)] if server.port != port else []
                server.extra_args = [*_SYNC_NOW, *follow]
                server.start()

    def kill_master(self) -> RedisServer:
        """SIGKILL the current master (as a crash would); return it."""
        master = self.master()
        master.kill()
        return master

    def pause_master(self) -> RedisServer:
        """SIGSTOP the current master (alive but silent); return it. ``resume()`` it later."""
        master = self.master()
        master.pause()
        return master

    def reset(self) -> None:
        """Bring every server back (killed ones rejoin as replicas), settle, delete every key."""
        for server in self._servers():
            server.resume()
        for sentinel in self.sentinels:
            sentinel.start()
        self.restart_data()
        self.wait_ready()
        master = self.master()
        master.flushall()
        replicas = [s for s in self.data if s is not master]

        def emptied() -> bool:
            return all(parse_info(s.execute("INFO", "keyspace")) == {} for s in replicas)

        _wait("replicas to follow FLUSHALL", emptied, 10.0)


class RedisClusterGroup(_Group):
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each.

    ``nodes`` lists the servers; roles change on failover (:meth:`masters`).
    ``redis-cli`` must be installed (it creates the cluster).
    """

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 2000,
        workdir: str | os.PathLike[str] | None = None,
        redis_cli: str | None = None,
    ) -> None:
        super().__init__(workdir)
        self.replicas = replicas
        self.redis_cli = redis_cli or os.environ.get("ACCORD_TEST_REDIS_CLI", "redis-cli")
        self.nodes: list[RedisServer] = []
        count = masters * (1 + replicas)
        ports = free_ports(2 * count)  # data and bus ports, all distinct
        for i in range(count):
            args = [
                "--cluster-enabled", "yes",
                "--cluster-port", str(ports[count + i]),
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms),
                "--cluster-require-full-coverage", "no",
                # A replica may always take over, however long its link was down.
                "--cluster-replica-validity-factor", "0",
                *_SYNC_NOW,
            ]  # fmt: skip
            workdir_ = self.workdir / f"node-{i}"
            self.nodes.append(RedisServer(ports[i], workdir=workdir_, extra_args=args))
        self._created = False

    def _servers(self) -> list[RedisServer]:
        return list(self.nodes)

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """``[(host, port), ...]`` of every node."""
        return [(n.host, n.port) for n in self.nodes]

    def url(self, *, scheme: str = "redis+cluster") -> str:
        """``redis+cluster://h:p,h:p,...``: the cluster as accord's URL names it."""
        return f"{scheme}://" + ",".join(f"{h}:{p}" for h, p in self.startup_nodes)

    def start(self) -> RedisClusterGroup:
        """Start the nodes and create the cluster once; wait until every node says ``ok``."""
        if shutil.which(self.redis_cli) is None:
            raise ServiceUnavailable(
                "Redis Cluster",
                f"redis-cli ({self.redis_cli!r}) was not found; install it "
                "(Debian/Ubuntu: apt-get install redis-tools) or set ACCORD_TEST_REDIS_CLI",
            )
        for node in self.nodes:
            node.start()
        if not self._created:
            addresses = [f"{h}:{p}" for h, p in self.startup_nodes]
            run = subprocess.run(
                [
                    *(self.redis_cli, "--cluster", "create", *addresses),
                    *("--cluster-replicas", str(self.replicas), "--cluster-yes"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if run.returncode != 0:
                raise ServiceUnavailable(
                    "Redis Cluster", f"redis-cli --cluster create: {run.stdout[-800:]}"
                )
            self._created = True
        self.wait_ready()
        return self

    def info(self, node: RedisServer) -> dict[str, str]:
        """``CLUSTER INFO`` of *node* (OSError if it does not answer)."""
        return parse_info(node.execute("CLUSTER", "INFO", timeout=1.0))

    def masters(self) -> list[RedisServer]:
        """The running nodes that report the master role and own slots."""
        found = []
        for node in self.nodes:
            if not node.running:
                continue
            try:
                if parse_info(node.execute("INFO", "replication", timeout=1.0))["role"] == "master":
                    found.append(node)
            except (OSError, KeyError):
                continue
        return found

    def master_of(self, key: str) -> RedisServer:
        """The live master serving *key*'s slot, as ``CLUSTER NODES`` of a live node tells."""
        for node in self.masters():
            reply = node.execute("CLUSTER", "KEYSLOT", key, timeout=1.0)
            slot = int(reply[1:].split(b"\r\n")[0])
            text = node.execute("CLUSTER", "NODES", timeout=1.0).decode("utf-8", "replace")
            for line in text.splitlines():
                fields = line.split()
                if len(fields) < 8 or "master" not in fields[2] or "fail" in fields[2]:
                    continue
                port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
                if _owns(fields[8:], slot):
                    return next(n for n in self.nodes if n.port == port)
        raise HarnessError(f"no live master serves the slot of {key!r}")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every running node reports ``cluster_state:ok`` and all slots are served."""
        expected_masters = len(self.nodes) // (1 + self.replicas)

        def healthy() -> bool:
            for node in self.nodes:
                info = self.info(node)
                if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384":
                    return False
                if int(info.get("cluster_known_nodes", 0)) < len(self.nodes):
                    return False
                replication = parse_info(node.execute("INFO", "replication", timeout=1.0))
                if (
                    replication.get("role") == "slave"
                    and replication.get("master_link_status") != "up"
                ):
                    return False
            return len(self.masters()) == expected_masters

        try:
            _wait("the Redis Cluster to report ok", healthy, timeout)
        except TimeoutError as exc:
            raise ServiceUnavailable("Redis Cluster", str(exc)) from exc

    def slot_owners(self, via: RedisServer) -> dict[int, int]:
        """Port of each healthy master -> number of slots it serves, as *via* sees the cluster."""
        text = via.execute("CLUSTER", "NODES", timeout=1.0).decode("utf-8", "replace")
        owners: dict[int, int] = {}
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 8 or "master" not in fields[2] or "fail" in fields[2]:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            owners[port] = sum(_count(item) for item in fields[8:])
        return owners

    def wait_for_promotion(self, old: RedisServer, timeout: float = 30.0) -> None:
        """Wait until every live node sees all slots served by masters other than *old*."""

        def served() -> bool:
            for node in self.nodes:
                if node is old or not node.running:
                    continue
                owners = self.slot_owners(node)
                if owners.get(old.port) or sum(owners.values()) != 16384:
                    return False
                if self.info(node).get("cluster_state") != "ok":
                    return False
            return True

        _wait(f"promotion of a replica of {old}", served, timeout)

    def reset(self) -> None:
        """Bring every node back (killed masters rejoin as replicas), wait, delete every key."""
        for node in self.nodes:
            node.resume()
            node.start()
        self.wait_ready()
        for node in self.masters():
            node.flushall()


def _count(item: str) -> int:
    if item.startswith("["):  # a slot being migrated or imported
        return 0
    low, _, high = item.partition("-")
    return int(high or low) - int(low) + 1


def _owns(ranges: Sequence[str], slot: int) -> bool:
    for item in ranges:
        if item.startswith("["):
            continue
        low, _, high = item.partition("-")
        if int(low) <= slot <= int(high or low):
            return True
    return False
