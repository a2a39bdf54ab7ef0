"""The cache router as the pure state machine it is: no server, a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from accord.contrib.django.cache import router as router_module
from accord.contrib.django.cache.config import parse_config
from accord.contrib.django.cache.router import Router

A, B, C = "redis://a:6379/0", "redis://b:6379/0", "redis://c:6379/0"
GROUP = "redis+sentinel://mymaster/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(location: Any = (A, B, C), **options: Any) -> tuple[Router, Clock]:
    clock = Clock()
    config = parse_config("default", list(location), options, key_prefix="p")
    return Router(config, "cache:default", clock=clock), clock


def key_on(router: Router, node: str, n: int = 0) -> str:
    keys = [f"k{i}" for i in range(5000) if router.home(f"k{i}") == node]
    return keys[n]


def fail(router: Router, node: str, times: int = 1, written: tuple[str, ...] = ()) -> None:
    for _ in range(times):
        router.failed(node, ConnectionError("down"), written=written)


def test_a_healthy_ring_routes_every_key_to_its_home() -> None:
    router, _ = make()
    key = key_on(router, B)
    assert router.route(key) == (B, B, None, False)
    assert router.all_ok
    assert router.claim_repairs() == []


def test_a_failed_write_makes_its_key_pending_until_purged() -> None:
    router, _ = make(failover="miss")
    key = key_on(router, A)
    fail(router, A, written=(key,))
    assert router.route(key).purge is True
    assert router.route(key_on(router, A, 1)).purge is False
    router.purged(A, [key])
    assert router.route(key).purge is False


def test_a_success_resets_the_consecutive_failures() -> None:
    router, _ = make(failover="miss", failure_threshold=2)
    fail(router, A)
    router.succeeded(A)
    fail(router, A)
    assert router.health[A].out is False


def test_under_miss_an_out_node_reads_as_a_miss() -> None:
    router, _ = make(failover="miss", failure_threshold=2)
    fail(router, A, times=2)
    assert router.route(key_on(router, A)).node is None


def test_under_eject_the_stand_ins_markers_are_read_before_any_stand_in_is_used() -> None:
    router, _ = make(failover="eject", failure_threshold=1)
    key = key_on(router, A)
    fail(router, A)
    assert router.route(key).node is None  # no baseline yet: no stand-in
    (repair,) = router.claim_repairs([A])
    assert repair.kind == "baseline"
    assert repair.steps[0].batches == {
        B: [("GET", router.marker(A))],
        C: [("GET", router.marker(A))],
    }
    router.repair_done(repair, [{B: [b"token-1"], C: [None]}])
    route = router.route(key)
    assert route.node in (B, C)
    assert route.home == A
    assert route.epoch == ("token-1" if route.node == B else "")


def test_an_out_node_is_not_probed_before_retry_after_and_by_one_caller_only() -> None:
    router, clock = make(failover="eject", failure_threshold=1, retry_after=30)
    fail(router, A)
    router.repair_done(router.claim_repairs([A])[0], [{B: [None], C: [None]}])
    clock.now += 29
    assert router.claim_repairs([A]) == []
    clock.now += 2
    (repair,) = router.claim_repairs([A])
    assert router.claim_repairs([A]) == []  # claimed: others keep using stand-ins
    assert repair.kind == "readmit"


def test_a_readmission_wipes_renews_markers_then_deletes_its_copies() -> None:
    router, clock = make(failover="eject", failure_threshold=1, retry_after=1)
    key = key_on(router, A)
    fail(router, A)
    router.repair_done(router.claim_repairs([A])[0], [{B: [None], C: [None]}])
    stand_in = router.route(key).node
    assert stand_in is not None
    router.track_copies(A, stand_in, ["copy-of-key"])
    clock.now += 2
    (repair,) = router.claim_repairs([A])
    wipe, markers, copies = repair.steps
    assert (wipe.kind, list(wipe.batches)) == ("wipe", [A])
    assert set(markers.batches) == {B, C}
    ((_, marker, token),) = markers.batches[B]
    assert marker == router.marker(A)
    assert markers.batches[C] == [("SET", marker, token)]
    assert copies.batches == {stand_in: [("DEL", "copy-of-key")]}
    router.repair_done(repair, [{A: True}, {B: [b"OK"], C: [b"OK"]}, {stand_in: [1]}])
    assert router.route(key) == (A, A, None, False)
    assert router.all_ok


def test_a_failed_probe_keeps_the_node_out_for_another_retry_after() -> None:
    router, clock = make(failover="eject", failure_threshold=1, retry_after=5)
    fail(router, A)
    router.repair_done(router.claim_repairs([A])[0], [{B: [None], C: [None]}])
    clock.now += 6
    (repair,) = router.claim_repairs([A])
    router.repair_done(repair, [{A: ConnectionError("still down")}])
    assert router.health[A].out
    clock.now += 4
    assert router.claim_repairs([A]) == []
    clock.now += 2
    assert router.claim_repairs([A])[0].kind == "readmit"


def test_a_refused_stand_in_means_another_process_readmitted_so_probe_now() -> None:
    router, _ = make(failover="eject", failure_threshold=1, retry_after=30)
    fail(router, A)
    router.repair_done(router.claim_repairs([A])[0], [{B: [b"old"], C: [b"old"]}])
    router.refused(A, B, "new")
    assert router.health[A].epochs[B] == "new"  # later copies go to the new epoch
    assert router.claim_repairs([A])[0].kind == "readmit"


def test_stand_in_copies_are_capped_by_fallback_timeout() -> None:
    router, _ = make(fallback_timeout=60)
    assert router.stand_in_timeout(None) == 60
    assert router.stand_in_timeout(3000) == 60
    assert router.stand_in_timeout(10) == 10


def test_too_many_pending_keys_turn_into_a_wipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(router_module, "PENDING_KEY_LIMIT", 3)
    router, _ = make(failover="miss", failure_threshold=100)
    fail(router, A, written=("1", "2", "3", "4"))
    assert router.health[A].wipe_needed
    assert router.route(key_on(router, A)).node is None
    assert router.claim_repairs([A])[0].kind == "wipe"


def test_a_group_is_never_replaced_by_a_stand_in_and_is_probed_soon() -> None:
    location = ["redis+sentinel://s1,s2,s3/mymaster/0", B, C]
    router, clock = make(location, failover="eject", failure_threshold=1, group_retry_after=1)
    key = key_on(router, GROUP)
    fail(router, GROUP)
    assert router.route(key).node is None
    assert router.claim_repairs([GROUP]) == []
    clock.now += 1.5
    (repair,) = router.claim_repairs([GROUP])
    assert repair.kind == "probe"  # no wipe: the promoted replica holds the share
    router.repair_done(repair, [{GROUP: [b"PONG"]}])
    assert router.route(key) == (GROUP, GROUP, None, False)


def test_a_group_purges_what_it_acknowledged_within_the_window_before_its_last_success() -> None:
    location = ["redis+sentinel://s1,s2,s3/mymaster/0", B]
    router, clock = make(location, failover="miss", replication_window=2)
    old, recent = key_on(router, GROUP, 0), key_on(router, GROUP, 1)
    router.succeeded(GROUP, [old])
    clock.now += 5
    router.succeeded(GROUP, [recent])
    clock.now += 0.5
    router.succeeded(GROUP)  # a read: the group still answered
    clock.now += 10
    fail(router, GROUP)
    assert router.route(recent).purge is True  # may be missing on a promoted replica
    assert router.route(old).purge is False  # replicated long before the last success


def test_a_group_whose_recent_writes_overflow_the_journal_is_wiped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    location = ["redis+sentinel://s1,s2,s3/mymaster/0", B]
    router, _ = make(location, failover="miss")
    journal = router.health[GROUP].journal
    router.health[GROUP].journal = type(journal)(maxlen=2)
    router.succeeded(GROUP, ["x", "y", "z"])
    fail(router, GROUP)
    assert router.health[GROUP].wipe_needed


def test_a_cluster_is_one_group_with_no_ring() -> None:
    router, _ = make(["redis+cluster://h1:7000,h2:7001"], failover="miss")
    assert router.ring is None
    assert router.route("any") == (router.names[0], router.names[0], None, False)
    assert router.health[router.names[0]].group


def test_a_write_skipped_while_a_group_is_out_is_purged_after_its_readmission() -> None:
    # The group keeps its data through an outage (no wipe on readmission), so a
    # write dropped meanwhile would leave the older value there to be read.
    location = ["redis+sentinel://s1,s2,s3/mymaster/0", B, C]
    router, clock = make(location, failover="eject", failure_threshold=1, group_retry_after=1)
    key, other = key_on(router, GROUP, 0), key_on(router, GROUP, 1)
    fail(router, GROUP)
    assert router.route(key).node is None
    router.skipped(GROUP, written=[key])
    router.skipped(GROUP, reads=1)
    clock.now += 1.5
    (repair,) = router.claim_repairs([GROUP])
    router.repair_done(repair, [{GROUP: [b"PONG"]}])
    assert router.route(key).purge is True
    assert router.route(other).purge is False
    assert router.health[GROUP].dropped_writes == 1


def test_too_many_writes_skipped_while_a_group_is_out_turn_into_a_wipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(router_module, "PENDING_KEY_LIMIT", 2)
    location = ["redis+sentinel://s1,s2,s3/mymaster/0", B]
    router, _ = make(location, failover="eject", failure_threshold=1)
    fail(router, GROUP)
    router.skipped(GROUP, written=["1", "2", "3"])
    assert router.health[GROUP].wipe_needed
