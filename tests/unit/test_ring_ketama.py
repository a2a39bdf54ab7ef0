"""Ketama placement is exact: libketama (and uhashring) and libmemcached/twemproxy dialects.

Expected digest counts below were computed by compiling the C expressions of
libketama ``ketama_create_continuum`` and libmemcached ``update_continuum`` /
twemproxy ``ketama_update`` with gcc (x86-64, SSE float arithmetic).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest
import uhashring

from accord.core.ring import HashRing, ketama


def _random_keys(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + ":_-"
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 40))) for _ in range(count)]


def _hand_points(label: str, digests: int) -> list[int]:
    """libketama's points, computed the long way from the C expression."""
    points = []
    for k in range(digests):
        d = hashlib.md5(f"{label}-{k}".encode()).digest()
        for h in range(4):
            points.append(
                (d[3 + h * 4] << 24) | (d[2 + h * 4] << 16) | (d[1 + h * 4] << 8) | d[h * 4]
            )
    return points


def test_ketama_points_equal_hand_computed_libketama_points() -> None:
    ring = HashRing(["10.0.0.1:11211", "10.0.0.2:11211"], hash="ketama")
    expected = sorted(
        [(p, "10.0.0.1:11211") for p in _hand_points("10.0.0.1:11211", 40)]
        + [(p, "10.0.0.2:11211") for p in _hand_points("10.0.0.2:11211", 40)]
    )
    assert ring.points() == expected
    assert len(expected) == 320


def test_ketama_first_points_of_a_known_server() -> None:
    # The first point is MD5("<name>-0")'s first 4 bytes, read little-endian.
    digest = hashlib.md5(b"10.0.0.1:11211-0").digest()
    first = int.from_bytes(digest[:4], "little")
    assert first in {p for p, _ in HashRing(["10.0.0.1:11211"], hash="ketama").points()}


def test_ketama_key_hash_is_first_md5_word_little_endian() -> None:
    digest = hashlib.md5(b"some-key").digest()
    assert ketama.key_hash(b"some-key") == int.from_bytes(digest[:4], "little")


def test_ketama_key_goes_to_first_point_at_or_after_its_hash() -> None:
    ring = HashRing(["a:1", "b:1", "c:1"], hash="ketama")
    points = ring.points()
    for key in _random_keys(500, seed=3):
        hashed = ketama.key_hash(key.encode())
        owner = next((o for p, o in points if p >= hashed), points[0][1])
        assert ring.get_node(key) == owner


TEN = [f"10.0.{i}.{i * 7 % 255}:11211" for i in range(10)]
# A key whose ketama hash equals a point of TEN's continuum exactly (found by search).
EXACT_KEY = "Ui141eqPXWI:Xla2bQ1aNtZ3ME8q:oM"


def test_ketama_hash_equal_to_a_point_goes_to_that_point() -> None:
    # libketama's search returns the point when hash <= point (twemproxy's too):
    # the key belongs to the node owning that very point, not the next one.
    ring = HashRing(TEN, hash="ketama")
    hashed = ketama.key_hash(EXACT_KEY.encode())
    assert (hashed, "10.0.8.56:11211") in ring.points()
    assert ring.get_node(EXACT_KEY) == "10.0.8.56:11211"


def test_uhashring_differs_only_on_keys_hashing_exactly_onto_a_point() -> None:
    # uhashring bisects right (first point > hash); that is its one divergence.
    theirs = uhashring.HashRing(TEN, hash_fn="ketama")
    assert theirs.get_node(EXACT_KEY) == "10.0.6.42:11211"


def test_ketama_matches_uhashring_on_100k_random_keys_10_nodes() -> None:
    ours = HashRing(TEN, hash="ketama")
    theirs = uhashring.HashRing(TEN, hash_fn="ketama")
    points = {p for p, _ in ours.points()}
    keys = _random_keys(100_000, seed=1)
    mismatches = [k for k in keys if ours.get_node(k) != theirs.get_node(k)]
    # Only keys whose hash is exactly a point may differ (see the test above).
    assert all(ketama.key_hash(k.encode()) in points for k in mismatches)
    assert len(mismatches) <= 1


def test_ketama_matches_uhashring_continuum_with_weights() -> None:
    weights = {"mc1:11211": 1, "mc2:11211": 2, "mc3:11211": 3, "mc4:11211": 5, "mc5:11211": 1}
    ours = HashRing(weights, hash="ketama")
    theirs = uhashring.HashRing({n: {"weight": w} for n, w in weights.items()}, hash_fn="ketama")
    assert [p for p, _ in ours.points()] == theirs._keys
    points = set(theirs._keys)
    keys = [k for k in _random_keys(100_000, seed=2) if ketama.key_hash(k.encode()) not in points]
    assert len(keys) > 99_900
    assert [ours.get_node(k) for k in keys] == [theirs.get_node(k) for k in keys]


def test_ketama_matches_uhashring_after_add_and_remove() -> None:
    nodes = [f"node{i}" for i in range(6)]
    ours = HashRing(nodes[:5], hash="ketama")
    theirs = uhashring.HashRing(nodes[:5], hash_fn="ketama")
    ours.add_node(nodes[5])
    theirs.add_node(nodes[5])
    ours.remove_node(nodes[0])
    theirs.remove_node(nodes[0])
    points = set(theirs._keys)
    keys = [k for k in _random_keys(20_000, seed=4) if ketama.key_hash(k.encode()) not in points]
    assert [ours.get_node(k) for k in keys] == [theirs.get_node(k) for k in keys]


@pytest.mark.parametrize(
    ("weights", "libketama", "libmemcached"),
    [
        ([1] * 10, [40] * 10, [40] * 10),
        # Equal weights do not always give 40: float32 rounding (checked in C).
        ([1] * 25, [40] * 25, [39] * 25),
        ([1] * 61, [39] * 61, [39] * 61),
        ([5, 100, 10, 7, 3], [8, 160, 16, 11, 4], [7, 160, 15, 11, 4]),
        (
            [3, 100, 1, 2, 3, 5, 1, 1, 3, 2, 100, 2, 7, 64, 1, 1000, 7, 2, 2, 10, 3, 1],
            [1, 66, 0, 1, 1, 3, 0, 0, 1, 1, 66, 1, 4, 42, 0, 666, 4, 1, 1, 6, 1, 0],
            None,
        ),
    ],
)
def test_digest_counts_equal_the_c_float_arithmetic(
    weights: list[int], libketama: list[int], libmemcached: list[int] | None
) -> None:
    named = {f"s{i}": w for i, w in enumerate(weights)}
    assert list(ketama.digest_counts(named, "libketama").values()) == libketama
    if libmemcached is not None:
        assert list(ketama.digest_counts(named, "libmemcached").values()) == libmemcached


def test_libketama_gives_39_digests_to_61_equal_nodes_unlike_uhashring() -> None:
    named = {f"s{i}": 1 for i in range(61)}
    assert set(ketama.digest_counts(named, "libketama").values()) == {39}
    assert 40 * 61 * 1 // 61 == 40  # uhashring's integer arithmetic


def test_libketama_float_count_differs_from_integer_arithmetic() -> None:
    # uhashring computes 40*n*w // total in integers and gives s0 2 digests;
    # libketama's float arithmetic gives 1. accord follows the C library.
    weights = [3, 100, 1, 2, 3, 5, 1, 1, 3, 2, 100, 2, 7, 64, 1, 1000, 7, 2, 2, 10, 3, 1]
    named = {f"s{i}": w for i, w in enumerate(weights)}
    assert 40 * len(weights) * 3 // sum(weights) == 2
    assert ketama.digest_counts(named, "libketama")["s0"] == 1


def test_dialects_give_different_points_for_unequal_weights() -> None:
    weights = {f"s{i}": w for i, w in enumerate([5, 100, 10, 7, 3])}
    libketama = HashRing(weights, hash="ketama")
    libmemcached = HashRing(weights, hash="ketama-libmemcached")
    assert sum(o == "s0" for _, o in libketama.points()) == 32
    assert sum(o == "s0" for _, o in libmemcached.points()) == 28


def test_libmemcached_dialect_drops_default_port_from_point_string() -> None:
    ring = HashRing(["10.0.0.1:11211"], hash="ketama-libmemcached")
    assert [p for p, _ in ring.points()] == sorted(_hand_points("10.0.0.1", 40))


def test_libmemcached_dialect_keeps_other_ports() -> None:
    ring = HashRing(["10.0.0.1:11212"], hash="ketama-libmemcached")
    assert [p for p, _ in ring.points()] == sorted(_hand_points("10.0.0.1:11212", 40))


def test_libketama_dialect_keeps_default_port() -> None:
    ring = HashRing(["10.0.0.1:11211"], hash="ketama")
    assert [p for p, _ in ring.points()] == sorted(_hand_points("10.0.0.1:11211", 40))


def test_twemproxy_is_an_alias_of_the_libmemcached_dialect() -> None:
    nodes = {"a:11211": 1, "b:11211": 3, "c:22122": 2}
    assert (
        HashRing(nodes, hash="ketama-twemproxy").points()
        == HashRing(nodes, hash="ketama-libmemcached").points()
    )


def test_libmemcached_dialect_places_keys_like_a_hand_built_continuum() -> None:
    nodes = {"10.0.0.1:11211": 1, "10.0.0.2:11211": 2, "10.0.0.3:11213": 1}
    counts = ketama.digest_counts(nodes, "libmemcached")
    labels = {"10.0.0.1:11211": "10.0.0.1", "10.0.0.2:11211": "10.0.0.2"}
    continuum = sorted((p, n) for n, c in counts.items() for p in _hand_points(labels.get(n, n), c))
    ring = HashRing(nodes, hash="ketama-libmemcached")
    for key in _random_keys(2000, seed=5):
        hashed = ketama.key_hash(key.encode())
        expected = next((o for p, o in continuum if p >= hashed), continuum[0][1])
        assert ring.get_node(key) == expected


def test_weighted_ketama_recount_keeps_ring_equal_to_fresh_build() -> None:
    ring = HashRing({"a": 1, "b": 2}, hash="ketama")
    ring.add_node("c", 3)
    assert ring.points() == HashRing({"a": 1, "b": 2, "c": 3}, hash="ketama").points()
    ring.remove_node("b")
    assert ring.points() == HashRing({"a": 1, "c": 3}, hash="ketama").points()


def test_zero_digest_node_is_listed_last_in_preference() -> None:
    weights = {"big": 1000, "tiny": 1}
    ring = HashRing(weights, hash="ketama")
    assert ketama.digest_counts(weights, "libketama")["tiny"] == 0
    assert ring.get_nodes("k", 2) == ["big", "tiny"]
    assert ring.distribution()["tiny"] == 0.0


_C_COUNTS = r"""
#include <stdio.h>
#include <math.h>
#include <stdint.h>
int main(void) {
  unsigned int n;
  while (scanf("%u", &n) == 1) {
    unsigned long w[64], memory = 0; uint32_t total = 0;
    for (unsigned i = 0; i < n; i++) { scanf("%lu", &w[i]); memory += w[i]; total += w[i]; }
    for (unsigned i = 0; i < n; i++) {
      float pct = (float)w[i] / (float)memory;
      unsigned int ks = floorf(pct * 40.0 * (float)n);              /* libketama */
      float pct2 = (float)(uint32_t)w[i] / (float)total;
      uint32_t pps = (uint32_t)((floorf((float)(pct2 * 160 / 4 * (float)n
                                                 + 0.0000000001))) * 4);  /* twemproxy */
      printf("%u %u%c", ks, pps / 4, i + 1 == n ? '\n' : ' ');
    }
  }
  return 0;
}
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)")
def test_digest_counts_equal_compiled_c_on_random_weights(tmp_path: Path) -> None:
    source = tmp_path / "counts.c"
    source.write_text(_C_COUNTS)
    subprocess.run(["cc", "-O2", "-o", str(tmp_path / "counts"), str(source), "-lm"], check=True)
    rng = random.Random(7)
    cases = [[1] * n for n in range(1, 64)]
    cases += [
        [rng.choice([1, 2, 3, 5, 7, 10, 64, 100, rng.randint(1, 5000)]) for _ in range(n)]
        for n in (rng.randint(1, 63) for _ in range(1500))
    ]
    stdin = "".join(f"{len(c)} {' '.join(map(str, c))}\n" for c in cases)
    out = subprocess.run(
        [str(tmp_path / "counts")], input=stdin, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for weights, line in zip(cases, out, strict=True):
        values = list(map(int, line.split()))
        named = {f"s{i}": w for i, w in enumerate(weights)}
        assert list(ketama.digest_counts(named, "libketama").values()) == values[0::2]
        assert list(ketama.digest_counts(named, "libmemcached").values()) == values[1::2]
