"""HashRing's public API: lookups, membership, errors, observers, copies, threads."""

from __future__ import annotations

import copy
import math
import threading
import types
from collections.abc import Sequence
from typing import Any

import pytest

from accord import hookimpl
from accord.core.errors import (
    ConfigurationError,
    EmptyRingError,
    RingTypeError,
    UnknownProviderError,
)
from accord.core.ring import DEFAULT_VNODES, HashRing
from accord.testing.plugins import registered

NODES = ["cache-a:6379", "cache-b:6379", "cache-c:6379"]
KEYS = [f"user:{i}" for i in range(2000)]


def test_get_node_returns_a_member_for_every_key() -> None:
    ring = HashRing(NODES)
    assert {ring.get_node(k) for k in KEYS} == set(NODES)


def test_str_and_its_utf8_bytes_map_to_the_same_node() -> None:
    ring = HashRing(NODES)
    for key in ["plain", "ünïcödé", "日本"]:
        assert ring.get_node(key) == ring.get_node(key.encode())


def test_str_subclass_key_is_accepted() -> None:
    class SafeString(str):
        pass

    ring = HashRing(NODES)
    assert ring.get_node(SafeString("k")) == ring.get_node("k")


def test_get_node_on_empty_ring_raises_empty_ring_error() -> None:
    with pytest.raises(EmptyRingError, match="no nodes"):
        HashRing().get_node("k")


def test_empty_ring_error_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        HashRing().get_node("k")


@pytest.mark.parametrize("key", [1, 1.5, None, ("a",), bytearray(b"x")])
def test_non_str_bytes_key_raises_type_error_naming_it(key: object) -> None:
    ring = HashRing(NODES)
    with pytest.raises(TypeError, match=r"str or bytes, got"):
        ring.get_node(key)  # type: ignore[arg-type]


def test_get_nodes_first_is_get_node_and_all_distinct() -> None:
    ring = HashRing(NODES)
    for key in KEYS[:200]:
        nodes = ring.get_nodes(key, 3)
        assert nodes[0] == ring.get_node(key)
        assert sorted(nodes) == sorted(NODES)


def test_get_nodes_zero_returns_empty_list() -> None:
    assert HashRing(NODES).get_nodes("k", 0) == []


def test_get_nodes_more_than_node_count_raises_naming_both() -> None:
    with pytest.raises(ConfigurationError, match=r"n=4 .* has 3"):
        HashRing(NODES).get_nodes("k", 4)


def test_get_nodes_negative_raises_value_error() -> None:
    with pytest.raises(ValueError, match="n=-1"):
        HashRing(NODES).get_nodes("k", -1)


def test_get_nodes_non_int_raises_type_error() -> None:
    with pytest.raises(RingTypeError, match=r"n=1\.0 is invalid: expected an integer from 0 to 3"):
        HashRing(NODES).get_nodes("k", 1.0)  # type: ignore[arg-type]


def test_get_nodes_on_empty_ring_raises_empty_ring_error() -> None:
    with pytest.raises(EmptyRingError, match="no nodes"):
        HashRing().get_nodes("k", 1)


def test_get_nodes_on_emptied_ring_raises_empty_ring_error() -> None:
    ring = HashRing(["only"])
    ring.remove_node("only")
    with pytest.raises(EmptyRingError):
        ring.get_nodes("k", 2)


def test_get_nodes_zero_on_empty_ring_returns_empty_list() -> None:
    assert HashRing().get_nodes("k", 0) == []


def test_container_protocol() -> None:
    ring = HashRing(NODES)
    assert len(ring) == 3
    assert "cache-a:6379" in ring
    assert "nope" not in ring
    assert 42 not in ring
    assert list(ring) == NODES
    assert dict(ring.nodes) == dict.fromkeys(NODES, 1)


def test_nodes_view_is_read_only() -> None:
    ring = HashRing(NODES)
    with pytest.raises(TypeError):
        ring.nodes["x"] = 1  # type: ignore[index]


def test_weights_mapping_is_kept() -> None:
    ring = HashRing({"a": 1, "b": 2.5})
    assert dict(ring.nodes) == {"a": 1, "b": 2.5}


def test_distribution_sums_to_one_and_covers_every_node() -> None:
    shares = HashRing(NODES).distribution()
    assert set(shares) == set(NODES)
    assert math.isclose(sum(shares.values()), 1.0)


def test_distribution_of_empty_ring_is_empty() -> None:
    assert HashRing().distribution() == {}


def test_distribution_follows_weights() -> None:
    shares = HashRing({"small": 1, "big": 3}).distribution()
    assert 2.5 < shares["big"] / shares["small"] < 3.5


def test_weighted_node_gets_proportional_points() -> None:
    ring = HashRing({"a": 1, "b": 0.5}, vnodes=100)
    owners = [owner for _, owner in ring.points()]
    assert owners.count("a") == 100
    assert owners.count("b") == 50


def test_tiny_weight_still_gets_one_point() -> None:
    ring = HashRing({"a": 1, "b": 1e-9}, vnodes=10)
    assert [owner for _, owner in ring.points()].count("b") == 1


def test_default_vnodes_points_per_node() -> None:
    ring = HashRing(NODES)
    assert ring.vnodes == DEFAULT_VNODES
    assert len(ring.points()) == 3 * DEFAULT_VNODES


def test_add_node_then_lookup_reaches_it() -> None:
    ring = HashRing(NODES)
    ring.add_node("cache-d:6379")
    assert "cache-d:6379" in {ring.get_node(k) for k in KEYS}


def test_remove_node_then_lookup_never_reaches_it() -> None:
    ring = HashRing(NODES)
    ring.remove_node("cache-a:6379")
    assert "cache-a:6379" not in {ring.get_node(k) for k in KEYS}
    assert len(ring) == 2


def test_removing_last_node_leaves_an_empty_ring() -> None:
    ring = HashRing(["only"])
    ring.remove_node("only")
    with pytest.raises(EmptyRingError):
        ring.get_node("k")


def test_add_node_matches_a_ring_built_at_once() -> None:
    grown = HashRing(NODES[:1])
    for name in NODES[1:]:
        grown.add_node(name)
    assert grown.points() == HashRing(NODES).points()


def test_remove_node_matches_a_ring_built_without_it() -> None:
    ring = HashRing(NODES)
    ring.remove_node(NODES[1])
    assert ring.points() == HashRing([NODES[0], NODES[2]]).points()


def test_add_existing_node_raises_and_keeps_ring() -> None:
    ring = HashRing(NODES)
    before = ring.points()
    with pytest.raises(ConfigurationError, match="'cache-a:6379' is already in the ring"):
        ring.add_node("cache-a:6379")
    assert ring.points() == before


def test_remove_unknown_node_raises_listing_nodes() -> None:
    with pytest.raises(ConfigurationError, match=r"'nope' is not in the ring; nodes: 'cache-a"):
        HashRing(NODES).remove_node("nope")


def test_duplicate_node_names_raise_naming_the_duplicate() -> None:
    with pytest.raises(ConfigurationError, match="'a' is listed twice"):
        HashRing(["a", "b", "a"])


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_node_name_raises_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="is empty"):
        HashRing([name])


def test_non_str_node_name_raises_type_error() -> None:
    with pytest.raises(RingTypeError, match="node names must be str, got int 1"):
        HashRing([1])  # type: ignore[list-item]


def test_single_string_as_nodes_raises_type_error_with_fix() -> None:
    with pytest.raises(RingTypeError, match=r"write \['abc'\]"):
        HashRing("abc")


@pytest.mark.parametrize("weight", [0, -1, -0.5, float("nan"), float("inf")])
def test_bad_weight_raises_value_error_naming_it(weight: float) -> None:
    with pytest.raises(
        ConfigurationError, match=r"weight of node 'a' = .* expected a finite number > 0"
    ):
        HashRing({"a": weight})


@pytest.mark.parametrize("weight", ["1", None, True])
def test_non_numeric_weight_raises_type_error(weight: object) -> None:
    with pytest.raises(RingTypeError, match=rf"weight of node 'a' = {weight!r} is invalid"):
        HashRing({"a": weight})  # type: ignore[dict-item]


def test_an_int_weight_too_large_for_a_float_raises_value_error() -> None:
    with pytest.raises(ConfigurationError, match="weight of node 'a'"):
        HashRing({"a": 10**400})


def test_add_node_bad_weight_raises() -> None:
    with pytest.raises(ConfigurationError):
        HashRing().add_node("a", weight=0)


@pytest.mark.parametrize("vnodes", [0, -5, 1 << 21])
def test_out_of_range_vnodes_raises_value_error(vnodes: int) -> None:
    with pytest.raises(ConfigurationError, match=r"expected an integer from 1 to 1048576\."):
        HashRing(vnodes=vnodes)


@pytest.mark.parametrize("vnodes", [100.0, "100", True])
def test_non_int_vnodes_raises_type_error(vnodes: object) -> None:
    with pytest.raises(RingTypeError, match=rf"vnodes={vnodes!r} is invalid"):
        HashRing(vnodes=vnodes)  # type: ignore[arg-type]


def test_unknown_hash_name_raises_listing_choices() -> None:
    with pytest.raises(UnknownProviderError, match=r"unknown hash 'sha9'.*'ketama'.*'md5'.*'xxh3'"):
        HashRing(hash="sha9")


def test_unknown_hash_is_a_value_and_lookup_error() -> None:
    with pytest.raises(ValueError):
        HashRing(hash="sha9")
    with pytest.raises(LookupError):
        HashRing(hash="sha9")


def test_non_callable_hash_raises_type_error() -> None:
    with pytest.raises(RingTypeError, match="hash must be a hash name or a callable"):
        HashRing(hash=42)  # type: ignore[arg-type]


def test_vnodes_with_ketama_raises() -> None:
    with pytest.raises(ConfigurationError, match="ketama fixes 160 points"):
        HashRing(hash="ketama", vnodes=100)


def test_md5_hash_by_name() -> None:
    ring = HashRing(NODES, hash="md5")
    assert ring.hash_name == "md5"
    assert {ring.get_node(k) for k in KEYS} == set(NODES)


def test_callable_hash_is_used_for_points_and_keys() -> None:
    calls: list[bytes] = []

    def my_hash(data: bytes) -> int:
        calls.append(data)
        return len(data) * 1000

    ring = HashRing(["a"], hash=my_hash, vnodes=2)
    assert ring.points() == [(3000, "a"), (3000, "a")]  # b"a-0", b"a-1"
    assert ring.get_node("xyz") == "a"
    assert calls[-1] == b"xyz"
    assert ring.hash_name == "my_hash"


def test_callable_hash_out_of_range_raises_naming_it() -> None:
    with pytest.raises(ConfigurationError, match=r"must return ints in \[0, 2\*\*64\)"):
        HashRing(["a"], hash=lambda data: -1)


def test_callable_hash_out_of_range_at_lookup_raises() -> None:
    ring = HashRing(["a"], hash=lambda data: 1 if data.startswith(b"a-") else 1 << 70)
    with pytest.raises(ConfigurationError, match="returned"):
        ring.get_node("k")


def test_plugin_provides_a_hash_name() -> None:
    plugin = types.SimpleNamespace(
        accord_hash_function=hookimpl(lambda name: (lambda data: 7) if name == "seven" else None)
    )
    with registered(plugin, "seven-plugin"):
        ring = HashRing(["a", "b"], hash="seven", vnodes=1)
    assert ring.get_node("anything") == "a"  # both points are 7: 'a' wins the tie


def test_key_func_routes_by_a_substring() -> None:
    def hash_tag(data: bytes) -> bytes:
        start = data.find(b"{")
        end = data.find(b"}", start + 1)
        return data[start + 1 : end] if start != -1 and end > start + 1 else data

    ring = HashRing([f"n{i}" for i in range(10)], key_func=hash_tag)
    owners = {ring.get_node(f"{{user42}}:field{i}") for i in range(50)}
    assert owners == {ring.get_node("user42")}
    assert ring.get_nodes("{user42}:x", 3) == ring.get_nodes("user42", 3)


def test_non_callable_key_func_raises_type_error() -> None:
    with pytest.raises(RingTypeError, match="key_func must be a callable"):
        HashRing(key_func="nope")  # type: ignore[arg-type]


def test_collision_owner_is_the_smaller_name_whatever_the_order() -> None:
    def constant(data: bytes) -> int:
        return 12345

    for order in (["b", "a"], ["a", "b"]):
        ring = HashRing(vnodes=1, hash=constant)
        for name in order:
            ring.add_node(name)
        assert ring.get_node("k") == "a"
        assert ring.points() == [(12345, "a"), (12345, "b")]


def test_remove_node_after_collision_keeps_the_other_nodes_point() -> None:
    ring = HashRing(["a", "b"], vnodes=3, hash=lambda data: 99)
    ring.remove_node("a")
    assert ring.points() == [(99, "b")] * 3
    assert ring.get_node("k") == "b"
    ring.remove_node("b")
    assert ring.points() == []


def test_membership_changes_fire_ring_changed_observer() -> None:
    events: list[tuple[Any, Sequence[str], Sequence[str]]] = []

    class Observer:
        @hookimpl
        def accord_ring_changed(
            self, ring: Any, added: Sequence[str], removed: Sequence[str]
        ) -> None:
            # The change has taken effect when observers run.
            assert ("x" in ring) == bool(added)
            events.append((ring, tuple(added), tuple(removed)))

    ring = HashRing(NODES)
    with registered(Observer(), "ring-observer"):
        ring.add_node("x")
        ring.remove_node("x")
    assert events == [(ring, ("x",), ()), (ring, (), ("x",))]


def test_construction_does_not_fire_ring_changed() -> None:
    events: list[object] = []
    plugin = types.SimpleNamespace(accord_ring_changed=hookimpl(lambda ring: events.append(ring)))
    with registered(plugin, "ring-observer-2"):
        HashRing(NODES)
    assert events == []


def test_copy_is_independent_of_the_original() -> None:
    ring = HashRing(NODES)
    clone = ring.copy()
    clone.add_node("extra")
    assert "extra" not in ring
    assert "extra" in clone
    assert copy.copy(ring).points() == ring.points()
    assert copy.deepcopy(ring).points() == ring.points()


def test_rings_share_no_state() -> None:
    first = HashRing(["a"])
    second = HashRing(["b"])
    first.add_node("c")
    assert list(second) == ["b"]


def test_repr_names_size_and_hash() -> None:
    assert repr(HashRing(["a"], vnodes=4)) == "<HashRing nodes=1 points=4 hash='xxh3' vnodes=4>"


def test_lookups_during_membership_changes_see_old_or_new_ring() -> None:
    base = [f"n{i}" for i in range(8)]
    ring = HashRing(base)
    before = {k: ring.get_node(k) for k in KEYS}
    with_extra = HashRing([*base, "extra"])
    after = {k: with_extra.get_node(k) for k in KEYS}
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for key in KEYS:
                if ring.get_node(key) not in (before[key], after[key]):
                    errors.append(key)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(30):
        ring.add_node("extra")
        ring.remove_node("extra")
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
