"""Ring properties, checked by hypothesis: determinism, minimal movement, preference lists."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.ring import HashRing

HASHES = st.sampled_from(["xxh3", "md5", "ketama", "ketama-libmemcached"])
NAMES = st.lists(
    st.text(alphabet="abcdefgh0123456789:.-", min_size=1, max_size=12),
    min_size=1,
    max_size=8,
    unique=True,
)
KEYS = st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20)), min_size=1, max_size=50)
FAST = settings(max_examples=40, deadline=None)


def _ring(names: list[str], hash_name: str) -> HashRing:
    # Small vnodes keep examples fast; the properties hold for any count.
    vnodes = None if hash_name.startswith("ketama") else 16
    return HashRing(names, hash=hash_name, vnodes=vnodes)


@FAST
@given(names=NAMES, keys=KEYS, hash_name=HASHES)
def test_same_nodes_in_any_order_give_the_same_owner(
    names: list[str], keys: list[str | bytes], hash_name: str
) -> None:
    forward = _ring(names, hash_name)
    backward = _ring(names[::-1], hash_name)
    assert [forward.get_node(k) for k in keys] == [backward.get_node(k) for k in keys]


@FAST
@given(names=NAMES, keys=KEYS, hash_name=HASHES)
def test_incremental_adds_equal_a_ring_built_at_once(
    names: list[str], keys: list[str | bytes], hash_name: str
) -> None:
    grown = _ring([], hash_name)
    for name in names:
        grown.add_node(name)
    built = _ring(names, hash_name)
    assert grown.points() == built.points()
    assert [grown.get_node(k) for k in keys] == [built.get_node(k) for k in keys]


@FAST
@given(names=NAMES, new=st.text(alphabet="xyz", min_size=1, max_size=5), keys=KEYS)
def test_adding_a_node_moves_keys_only_to_it(
    names: list[str], new: str, keys: list[str | bytes]
) -> None:
    ring = _ring(names, "xxh3")
    before = [ring.get_node(k) for k in keys]
    ring.add_node(new)
    after = [ring.get_node(k) for k in keys]
    assert all(a in (b, new) for a, b in zip(after, before, strict=True))


@FAST
@given(names=NAMES.filter(lambda n: len(n) > 1), keys=KEYS, data=st.data())
def test_removing_a_node_moves_only_its_keys(
    names: list[str], keys: list[str | bytes], data: st.DataObject
) -> None:
    ring = _ring(names, "xxh3")
    gone = data.draw(st.sampled_from(names))
    before = [ring.get_node(k) for k in keys]
    ring.remove_node(gone)
    after = [ring.get_node(k) for k in keys]
    for old, new in zip(before, after, strict=True):
        assert new == old or old == gone
        assert new != gone


@FAST
@given(names=NAMES, keys=KEYS, hash_name=HASHES, data=st.data())
def test_preference_list_is_distinct_and_starts_with_owner(
    names: list[str], keys: list[str | bytes], hash_name: str, data: st.DataObject
) -> None:
    ring = _ring(names, hash_name)
    n = data.draw(st.integers(min_value=1, max_value=len(names)))
    for key in keys:
        preferred = ring.get_nodes(key, n)
        assert len(preferred) == len(set(preferred)) == n
        assert preferred[0] == ring.get_node(key)
        assert set(preferred) <= set(names)


@FAST
@given(names=NAMES, keys=KEYS, data=st.data())
def test_preference_list_of_n_is_a_prefix_of_n_plus_one(
    names: list[str], keys: list[str | bytes], data: st.DataObject
) -> None:
    ring = _ring(names, "xxh3")
    n = data.draw(st.integers(min_value=0, max_value=len(names) - 1))
    for key in keys:
        assert ring.get_nodes(key, n + 1)[:n] == ring.get_nodes(key, n)


@FAST
@given(
    names=NAMES,
    keys=KEYS,
    modulus=st.integers(min_value=1, max_value=5),
)
def test_colliding_points_never_break_add_or_remove(
    names: list[str], keys: list[str | bytes], modulus: int
) -> None:
    # A hash with a tiny range makes nearly every point collide.
    def tiny(data: bytes) -> int:
        return sum(data) % modulus

    ring = HashRing(hash=tiny, vnodes=3)
    for name in names:
        ring.add_node(name)
    assert ring.points() == HashRing(names, hash=tiny, vnodes=3).points()
    for name in names[:-1]:
        ring.remove_node(name)
        assert (
            ring.points() == HashRing([n for n in names if n in ring], hash=tiny, vnodes=3).points()
        )
        assert {ring.get_node(k) for k in keys} <= set(ring)
