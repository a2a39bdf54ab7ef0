"""The lock invariants find what they should on hand-made histories, and nothing else."""

from __future__ import annotations

from typing import Any

from accord.testing.invariants import (
    check_lock,
    holds,
    late_notices,
    reused_tokens,
    unattended_waits,
    unexplained_losses,
)


def ev(at: float, client: str, event: str, **fields: Any) -> dict[str, Any]:
    return {"at": at, "client": client, "event": event, **fields}


CLEAN = [
    ev(0.0, "a", "acquiring"),
    ev(0.0, "a", "acquired", token=1),
    ev(0.1, "b", "acquiring"),
    ev(0.5, "a", "releasing"),
    ev(0.5, "a", "released"),
    ev(0.51, "b", "acquired", token=2),
    ev(0.9, "b", "releasing"),
    ev(0.9, "b", "released"),
]


def test_a_clean_history_has_no_findings() -> None:
    assert check_lock(CLEAN, lease=0.6, interval=0.2, slack=0.1) == []


def test_holds_run_from_acquired_to_when_the_client_stopped() -> None:
    found = holds(CLEAN)
    assert [(h.client, h.token, h.start, h.stop, h.released) for h in found] == [
        ("a", 1, 0.0, 0.5, 0.5),
        ("b", 2, 0.51, 0.9, 0.9),
    ]


def test_a_token_handed_to_two_clients_is_found() -> None:
    history = [ev(0, "a", "acquired", token=5), ev(1, "b", "acquired", token=5)]
    assert reused_tokens(history) == ["token 5 was issued to a and again to b"]


def test_a_loss_noticed_late_is_found_and_one_in_time_is_not() -> None:
    base = [ev(0, "a", "acquired", token=1), ev(1.0, "b", "acquired", token=2)]
    in_time = [*base, ev(1.15, "a", "lost", reason="expired")]
    late = [*base, ev(1.5, "a", "lost", reason="expired")]
    assert late_notices(in_time, within=0.2) == []
    assert "believed it held the lock" in late_notices(late, within=0.2)[0]


def test_a_release_confirmed_while_another_held_the_lock_is_two_holders() -> None:
    history = [
        ev(0, "a", "acquired", token=1),
        ev(1.0, "b", "acquired", token=2),
        ev(1.05, "a", "releasing"),
        ev(1.1, "a", "released"),
    ]
    assert "two holders at once" in late_notices(history, within=5)[0]
    sent_before = [history[0], ev(0.5, "a", "releasing"), history[1], history[3]]
    assert late_notices(sent_before, within=5) == []  # it may have run before b took it


def test_a_frozen_process_is_not_expected_to_notice_before_it_runs_again() -> None:
    history = [
        ev(0, "a", "acquired", token=1),
        ev(0.1, "a", "fault", kind="process paused", frozen=True),
        ev(1.0, "b", "acquired", token=2),
        ev(2.0, "a", "healed"),
        ev(2.1, "a", "lost", reason="expired"),
    ]
    assert late_notices(history, within=0.2) == []


def test_a_waiter_kept_waiting_on_a_lock_held_by_nobody_is_found() -> None:
    history = [
        ev(0, "a", "acquired", token=1),
        ev(0.1, "b", "acquiring"),
        ev(0.2, "a", "releasing"),
        ev(0.2, "a", "released"),
        ev(3.0, "b", "acquired", token=2),
    ]
    (finding,) = unattended_waits(history, lease=0.6, slack=0.1)
    assert "nobody held the lock for 2.800 s" in finding


def test_a_lease_left_by_a_failed_release_is_allowed_its_lease() -> None:
    history = [
        ev(0, "a", "acquired", token=1),
        ev(0.1, "b", "acquiring"),
        ev(0.2, "a", "releasing"),
        ev(0.2, "a", "release-failed", error="down"),
        ev(0.75, "b", "acquired", token=2),
    ]
    assert unattended_waits(history, lease=0.6, slack=0.1) == []
    assert unattended_waits(history, lease=0.2, slack=0.1) != []


def test_a_loss_without_a_reason_is_found() -> None:
    assert unexplained_losses([ev(0, "a", "lost", reason="")]) == [
        "a lost the lock at 0.000 without a reason"
    ]


def run(at: float, client: str, event: str, task_id: str, **fields: Any) -> dict[str, Any]:
    return ev(at, client, event, key="k", task_id=task_id, **fields)


def test_singleton_runs_one_after_another_hold() -> None:
    from accord.testing.history import Write
    from accord.testing.invariants import check_singleton_runs

    events = [
        run(0.0, "r1", "run-started", "t1", token=1),
        run(0.5, "r1", "run-finished", "t1", outcome="success"),
        run(0.6, "r2", "run-started", "t2", token=2),
        run(0.9, "r2", "run-finished", "t2", outcome="success"),
    ]
    writes = [Write("k", 1, "r1", 0.0, True), Write("k", 2, "r2", 0.6, True)]
    assert check_singleton_runs(events, writes) == []


def test_singleton_runs_that_overlap_refused_or_rerun_are_found() -> None:
    from accord.testing.history import Write
    from accord.testing.invariants import check_singleton_runs

    events = [
        run(0.0, "r1", "run-started", "t1", token=1),
        run(0.4, "r2", "run-started", "t1", token=1),  # a redelivery running at once
        run(0.5, "r1", "run-finished", "t1", outcome="success"),
        run(0.9, "r2", "run-finished", "t1", outcome="success"),
    ]
    writes = [Write("k", 1, "r1", 0.0, True), Write("k", 1, "r2", 0.4, False)]
    found = check_singleton_runs(events, writes)
    assert any("before run r1 ended" in f for f in found)
    assert any("refused token 1 of run r2" in f for f in found)
    events.append(run(1.0, "r3", "run-started", "t1", token=3))
    assert any("after the task succeeded" in f for f in check_singleton_runs(events, writes))
