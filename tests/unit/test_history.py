"""The fenced store and the history checks of accord.testing.history."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from accord.testing.history import (
    FencedStore,
    History,
    Section,
    check_fenced_writes,
    critical_sections,
    overlapping_sections,
)


def test_store_accepts_increasing_tokens_and_the_same_holder_again(tmp_path: Path) -> None:
    store = FencedStore(tmp_path / "store")
    assert store.write("r", 1, "a")
    assert store.write("r", 1, "a")  # the holder writes twice in its section
    assert store.write("r", 2, "b")


def test_store_refuses_a_token_not_greater_than_another_holders(tmp_path: Path) -> None:
    store = FencedStore(tmp_path / "store")
    assert store.write("r", 5, "a")
    assert not store.write("r", 5, "b")  # equal, from another holder
    assert not store.write("r", 4, "c")
    assert store.write("other", 1, "c")  # each resource on its own
    assert [w.accepted for w in store.writes("r")] == [True, False, False]


def _write_many(path: str, client: str) -> None:
    store = FencedStore(path)
    for token in range(50):
        store.write("r", token, client)


def test_store_is_atomic_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    FencedStore(path)
    processes = [
        multiprocessing.get_context("spawn").Process(target=_write_many, args=(path, f"c{i}"))
        for i in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    writes = FencedStore(path).writes()
    assert len(writes) == 150
    assert check_fenced_writes(writes) == []


def test_sections_pair_each_acquire_with_its_end(tmp_path: Path) -> None:
    history = History(tmp_path / "h")
    history.record("acquired", "a", token=1)
    history.record("released", "a")
    history.record("acquired", "b", token=2)
    sections = critical_sections(history.events())
    assert [(s.client, s.token, s.ended_by) for s in sections] == [
        ("a", 1, "released"),
        ("b", 2, "never"),
    ]


def test_overlaps_are_found_between_different_clients_only() -> None:
    a = Section("a", 1, 0.0, 2.0, "released")
    b = Section("b", 2, 1.0, 3.0, "released")
    c = Section("c", 3, 3.0, 4.0, "released")
    a_again = Section("a", 4, 1.5, 1.8, "released")
    assert overlapping_sections([a, b, c]) == [(a, b)]
    assert overlapping_sections([a, a_again]) == []


def test_check_fenced_writes_reports_a_token_that_went_down() -> None:
    from accord.testing.history import Write

    writes = [Write("r", 2, "a", 0.0, True), Write("r", 1, "b", 1.0, True)]
    assert check_fenced_writes(writes) == ["r: token 1 from b accepted after token 2 from a"]
