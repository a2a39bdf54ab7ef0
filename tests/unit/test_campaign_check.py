"""The campaign's reading of a history (pure logic, no servers)."""

from __future__ import annotations

from typing import Any

import pytest

from accord.testing.campaign import check, scenario_seconds, table
from accord.testing.history import Write


def _e(event: str, client: str, at: float, **fields: Any) -> dict[str, Any]:
    return {"event": event, "client": client, "at": at, **fields}


def _w(token: int, client: str, at: float, accepted: bool = True) -> Write:
    return Write("account", token, client, at, accepted)


def test_a_stale_holder_whose_write_was_accepted_during_an_overlap_is_unfenced() -> None:
    events = [
        _e("acquired", "a", 0.0, token=1),
        _e("acquired", "b", 1.0, token=2),
        _e("releasing", "b", 1.5),
        _e("released", "b", 1.6),
        _e("lost", "a", 2.0, reason="expired"),
    ]
    writes = [_w(1, "a", 0.1), _w(1, "a", 1.2), _w(2, "b", 1.3)]
    report = check(events, writes, "e", "f")
    assert (report.overlaps, report.unfenced_overlaps, report.refusals) == (1, 1, 0)


def test_an_overlap_the_fence_stopped_is_counted_but_not_unfenced() -> None:
    events = [
        _e("acquired", "a", 0.0, token=1),
        _e("acquired", "b", 1.0, token=2),
        _e("releasing", "b", 1.5),
        _e("released", "b", 1.6),
        _e("lost", "a", 2.0, reason="expired"),
    ]
    writes = [_w(1, "a", 0.1), _w(2, "b", 1.1), _w(1, "a", 1.2, accepted=False)]
    report = check(events, writes, "e", "f")
    assert (report.overlaps, report.unfenced_overlaps, report.refusals) == (1, 0, 1)


def test_unavailability_is_the_longest_gap_in_writes_after_each_fault() -> None:
    events = [_e("fault", "harness", 1.0), _e("fault", "harness", 5.0)]
    writes = [_w(1, "a", 0.9), _w(2, "a", 3.0), _w(3, "a", 3.1), _w(4, "a", 5.2)]
    report = check(events, writes, "e", "f", end=6.0)
    assert report.unavailability == pytest.approx([2.0, 0.2])
    assert report.unrecovered == 0


def test_a_fault_with_no_write_after_it_is_unavailable_until_the_end() -> None:
    report = check([_e("fault", "harness", 1.0)], [_w(1, "a", 0.5)], "e", "f", end=4.0)
    assert report.unavailability == [3.0]
    assert report.unrecovered == 1
    assert "not recovered" in table([report])


def test_an_acquire_without_an_end_is_a_finding() -> None:
    report = check([_e("acquired", "a", 0.0, token=1)], [], "e", "f")
    assert report.findings == ["a acquired at 0.000 (token 1) and never ended it"]


def test_the_scenario_length_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_CAMPAIGN_SECONDS", "60")
    assert scenario_seconds() == 60.0
    monkeypatch.setenv("ACCORD_CAMPAIGN_SECONDS", "soon")
    with pytest.raises(ValueError, match="ACCORD_CAMPAIGN_SECONDS='soon' is invalid"):
        scenario_seconds()
