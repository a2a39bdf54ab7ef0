"""The campaign: 4 client processes take the lock on a replicated engine while faults hit it.

Each scenario is one engine and one kind of fault, repeated while the clients
run (``ACCORD_CAMPAIGN_SECONDS``, default 12 s per scenario; set 60 for the
long version). The history is checked by :mod:`accord.testing.campaign`; the
table of every scenario is printed at the end of the module (and written to
``$ACCORD_CAMPAIGN_REPORT`` if set).

What must hold: the fenced store's accepted tokens never go back, every
acquire has an end, and on the ZooKeeper ensemble and on Sentinel with
``min_replicas=1`` no two clients acted as holders at once (0 unfenced
overlaps). On Sentinel without ``min_replicas`` overlaps are reported, not
asserted: a failover may grant the lock twice (see docs/operations.rst).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from accord.core.lock import base
from accord.testing import SentinelGroup, ZooKeeperEnsemble
from accord.testing.campaign import Clients, ScenarioReport, run_scenario, scenario_seconds, table
from accord.testing.faults import FaultProxy
from accord.testing.history import History

pytest.importorskip("kazoo")
pytest.importorskip("redis")

_REPORTS: list[ScenarioReport] = []
ZK_SESSION = 3.0
REDIS_TTL = 2.0


@pytest.fixture(scope="module", autouse=True)
def _print_the_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not _REPORTS:
        return
    text = table(_REPORTS)
    target = os.environ.get("ACCORD_CAMPAIGN_REPORT")
    if target:
        Path(target).write_text(text + "\n")
    request.config.pluginmanager.register(_Summary(text), "accord-campaign-table")


class _Summary:
    """Prints the campaign's table in pytest's terminal summary."""

    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_sep("=", "campaign")
        for line in self.text.splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    yield
    base.clear_backend_cache()


def _mark(history: History, kind: str, event: str = "fault") -> None:
    history.record(event, "harness", kind=kind)


# -- faults on the ZooKeeper ensemble -------------------------------------------------


def _leader_kill(ensemble: ZooKeeperEnsemble) -> Callable[[History, Clients], None]:
    def fault(history: History, clients: Clients) -> None:
        _mark(history, "leader-kill")
        old = ensemble.kill_leader()
        ensemble.wait_for_leader(other_than=old)
        old.start()
        ensemble.wait_ready()
        _mark(history, "leader-kill", "healed")

    return fault


def _follower_kill(ensemble: ZooKeeperEnsemble) -> Callable[[History, Clients], None]:
    def fault(history: History, clients: Clients) -> None:
        _mark(history, "follower-kill")
        follower = ensemble.kill_follower()
        time.sleep(1.0)
        follower.start()
        ensemble.wait_ready()
        _mark(history, "follower-kill", "healed")

    return fault


def _member_pause(ensemble: ZooKeeperEnsemble) -> Callable[[History, Clients], None]:
    def fault(history: History, clients: Clients) -> None:
        ensemble.wait_for_leader()
        member = ensemble.followers()[0]
        _mark(history, "member-pause")
        member.pause()
        time.sleep(ZK_SESSION + 1.0)  # longer than the session timeout
        member.resume()
        ensemble.wait_ready()
        _mark(history, "member-pause", "healed")

    return fault


def _client_pause(seconds: float) -> Callable[[History, Clients], None]:
    def fault(history: History, clients: Clients) -> None:
        _mark(history, "client-pause")
        index = clients.holder(history)  # pause the holder, past its lease
        history.record("fault", clients.names[index], kind="pause", frozen=True)
        clients.pause(index)
        time.sleep(seconds)
        clients.resume(index)
        history.record("healed", clients.names[index], kind="pause")
        _mark(history, "client-pause", "healed")

    return fault


# -- faults on the Sentinel group ------------------------------------------------------


def _master_kill(group: SentinelGroup) -> Callable[[History, Clients], None]:
    def fault(history: History, clients: Clients) -> None:
        old = group.master_address()
        _mark(history, "master-kill")
        group.kill_master()
        group.wait_for_promotion(old)
        group.restart_data()  # the old master returns as a replica
        group.wait_ready()
        _mark(history, "master-kill", "healed")

    return fault


def _master_partition(group: SentinelGroup) -> Callable[[History, Clients], None]:
    """The master is cut off from everyone (SIGSTOP) until a replica is promoted."""

    def fault(history: History, clients: Clients) -> None:
        old = group.master_address()
        _mark(history, "master-partition")
        paused = group.pause_master()
        try:
            group.wait_for_promotion(old)
        finally:
            paused.resume()  # it wakes up as a master, until the Sentinels demote it
        group.wait_ready()
        _mark(history, "master-partition", "healed")

    return fault


def _run(
    tmp_path: Path,
    engine: str,
    fault_name: str,
    url: str,
    options: dict[str, object],
    fault: Callable[[History, Clients], None],
    ttl: float,
) -> ScenarioReport:
    report = run_scenario(
        engine, fault_name, url, options, fault, tmp_path, seconds=scenario_seconds(), ttl=ttl
    )
    _REPORTS.append(report)
    assert report.acquisitions > 0, report
    assert report.faults > 0, report
    assert report.findings == [], report.findings
    return report


ZK_FAULTS = {
    "leader-kill": _leader_kill,
    "follower-kill": _follower_kill,
    "member-pause": _member_pause,
    "client-pause": lambda _ensemble: _client_pause(ZK_SESSION + 1.0),
}


@pytest.mark.parametrize("fault_name", list(ZK_FAULTS))
def test_the_lock_on_a_zookeeper_ensemble_never_has_two_acting_holders(
    zookeeper_ensemble: ZooKeeperEnsemble, tmp_path: Path, fault_name: str
) -> None:
    report = _run(
        tmp_path,
        "zookeeper ensemble",
        fault_name,
        zookeeper_ensemble.url("/campaign"),
        {"session_timeout": ZK_SESSION},
        ZK_FAULTS[fault_name](zookeeper_ensemble),
        ttl=ZK_SESSION,
    )
    assert report.unfenced_overlaps == 0, report


SENTINEL_FAULTS = {
    "master-kill": _master_kill,
    "master-partition": _master_partition,
    "client-pause": lambda _group: _client_pause(REDIS_TTL + 1.0),
}
SENTINEL_OPTIONS = {"socket_timeout": 0.5, "connect_timeout": 0.5}


@pytest.mark.parametrize("fault_name", list(SENTINEL_FAULTS))
def test_the_lock_on_sentinel_with_min_replicas_never_has_two_acting_holders(
    sentinel_group: SentinelGroup, tmp_path: Path, fault_name: str
) -> None:
    report = _run(
        tmp_path,
        "sentinel, min_replicas=1",
        fault_name,
        sentinel_group.url(0),
        {**SENTINEL_OPTIONS, "min_replicas": 1, "replica_timeout": 0.25},
        SENTINEL_FAULTS[fault_name](sentinel_group),
        ttl=REDIS_TTL,
    )
    assert report.unfenced_overlaps == 0, report


@pytest.mark.parametrize("fault_name", list(SENTINEL_FAULTS))
def test_the_lock_on_sentinel_without_min_replicas_reports_its_overlaps(
    sentinel_group: SentinelGroup, tmp_path: Path, fault_name: str
) -> None:
    """Overlaps in a failover are the documented cost of asynchronous replication: counted,
    not failed. A paused client involves no failover: there too, none may act with the other."""
    report = _run(
        tmp_path,
        "sentinel, no acknowledgement",
        fault_name,
        sentinel_group.url(0),
        dict(SENTINEL_OPTIONS),
        SENTINEL_FAULTS[fault_name](sentinel_group),
        ttl=REDIS_TTL,
    )
    if fault_name == "client-pause":
        assert report.unfenced_overlaps == 0, report


@pytest.fixture
def sentinel_proxies(sentinel_group: SentinelGroup) -> Iterator[list[FaultProxy]]:
    """A fault proxy in front of each Sentinel: the clients' only way to them."""
    proxies = [FaultProxy(address).start() for address in sentinel_group.sentinel_addresses]
    yield proxies
    for proxy in proxies:
        proxy.close()


def _sentinels_cut_off_during_a_master_kill(
    group: SentinelGroup, proxies: list[FaultProxy]
) -> Callable[[History, Clients], None]:
    """The clients lose the Sentinels (refused, connections cut), then the master dies."""

    def fault(history: History, clients: Clients) -> None:
        old = group.master_address()
        _mark(history, "sentinel-partition")
        for proxy in proxies:
            proxy.refuse()
            proxy.cut_all()
        group.kill_master()
        group.wait_for_promotion(old)
        group.restart_data()
        group.wait_ready()
        time.sleep(1.0)  # the partition outlasts the failover
        for proxy in proxies:
            proxy.heal()
        _mark(history, "sentinel-partition", "healed")

    return fault


@pytest.mark.parametrize("min_replicas", [1, 0])
def test_the_lock_on_sentinel_through_a_sentinel_side_partition_and_a_failover(
    sentinel_group: SentinelGroup,
    sentinel_proxies: list[FaultProxy],
    tmp_path: Path,
    min_replicas: int,
) -> None:
    hosts = ",".join(proxy.address for proxy in sentinel_proxies)
    url = f"redis+sentinel://{hosts}/{sentinel_group.service}/0"
    options: dict[str, object] = dict(SENTINEL_OPTIONS)
    if min_replicas:
        options.update(min_replicas=1, replica_timeout=0.25)
    report = _run(
        tmp_path,
        "sentinel, min_replicas=1" if min_replicas else "sentinel, no acknowledgement",
        "sentinel-partition + master-kill",
        url,
        options,
        _sentinels_cut_off_during_a_master_kill(sentinel_group, sentinel_proxies),
        ttl=REDIS_TTL,
    )
    if min_replicas:
        assert report.unfenced_overlaps == 0, report
