"""The immutable continuum behind :class:`~accord.core.ring.HashRing`.

A :class:`Continuum` is built once and never mutated after it is published,
which is what lets ring lookups run without a lock. Changing membership
builds a new one: :func:`insert_node` and :func:`delete_node` splice one
node's points in or out with slice copies (O(P) memory moves plus
O(k log P) searches) instead of re-sorting the whole ring.

Layout, chosen for lookup speed and memory (measured, see docs/ring.rst):

* ``points``: every point, sorted, in an ``array('Q')`` (8 bytes a point);
  equal points (a collision) are ordered by owner name;
* ``owners``: a tuple, ``owners[i]`` owns ``points[i]``, with ``owners[0]``
  repeated at the end so a hash past the last point wraps without a branch;
* ``direct`` and ``starts``: bucket tables over the top bits of the hash.
  ``direct[b]`` is the owner of every hash in bucket *b* when no point falls
  inside it (about 2/3 of buckets), else ``None``; ``starts[b]`` is the first
  point in bucket *b*, so other lookups bisect about one point instead of
  the whole list: bisecting 30,000 boxed ints costs more than the hash
  itself, mostly in cache misses.

Nothing here validates input; the ring does that first.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Mapping
from itertools import accumulate
from typing import NamedTuple

__all__ = ["EMPTY", "Continuum", "build", "delete_node", "insert_node"]

#: A node weight: a positive int or float, relative to the other nodes.
Weight = int | float


class Continuum(NamedTuple):
    """One version of a ring. A tuple, so a lookup unpacks it in one step."""

    direct: tuple[str | None, ...]
    owners: tuple[str, ...]
    points: array[int]
    starts: array[int]
    shift: int
    weights: dict[str, Weight]  # every node, in insertion order
    node_points: dict[str, array[int]]  # each node's points, in generation order


# Rings up to this many points get twice as many buckets (see finish()).
_SPARE_BIT_LIMIT = 1 << 16

EMPTY = Continuum((), (), array("Q"), array("I"), 64, {}, {})


def finish(
    points: array[int],
    owners: list[str],
    weights: dict[str, Weight],
    node_points: dict[str, array[int]],
    space_bits: int,
) -> Continuum:
    """Add the wrap-around owner and the bucket tables to sorted points and owners."""
    if not owners:
        return Continuum((), (), array("Q"), array("I"), space_bits, weights, node_points)
    # 2 to 4 buckets a point: 2/3 of the buckets hold no point, so their owner
    # is known without a search (measured: 40-80 ns a lookup saved). Past
    # 64k points, 1 to 2 a point, so building 1,000 nodes stays fast.
    spare = 1 if len(points) <= _SPARE_BIT_LIMIT else 0
    bits = min(space_bits, (len(points) - 1).bit_length() + spare)
    shift = space_bits - bits
    buckets = [point >> shift for point in points]
    counts = [0] * (1 << bits)
    for bucket in buckets:
        counts[bucket] += 1
    starts = array("I", [0])
    starts.extend(accumulate(counts))
    wrapped = (*owners, owners[0])
    # A bucket without points belongs to the owner of the next point after it.
    direct: list[str | None] = list(map(wrapped.__getitem__, starts[:-1]))
    for bucket in buckets:
        direct[bucket] = None
    return Continuum(tuple(direct), wrapped, points, starts, shift, weights, node_points)


def build(node_points: Mapping[str, array[int]]) -> tuple[array[int], list[str]]:
    """Sort every node's points into one continuum; equal points ordered by name.

    Each point is sorted as one int, ``point << RANK_BITS | rank of its
    owner's name``, so a collision keeps every copy, smallest name first,
    and one sort of plain ints (fast in CPython) does all the work.
    """
    names = sorted(node_points)
    rank_bits = max(1, len(names).bit_length())
    keys: list[int] = []
    for rank, name in enumerate(names):
        keys += [point << rank_bits | rank for point in node_points[name]]
    keys.sort()
    mask = (1 << rank_bits) - 1
    points = array("Q", [key >> rank_bits for key in keys])
    return points, [names[key & mask] for key in keys]


def insert_node(old: Continuum, name: str, new: array[int]) -> tuple[array[int], list[str]]:
    """Splice *name*'s sorted points into *old*'s points and owners."""
    points, owners = old.points, old.owners
    size = len(points)
    out_points = array("Q")
    out_owners: list[str] = []
    start = 0
    for point in sorted(new):
        index = bisect_left(points, point, start)
        # Among equal points the smaller name comes first (the collision rule).
        while index < size and points[index] == point and owners[index] < name:
            index += 1
        out_points += points[start:index]
        out_owners += owners[start:index]
        out_points.append(point)
        out_owners.append(name)
        start = index
    out_points += points[start:]
    out_owners += owners[start:size]
    return out_points, out_owners


def delete_node(old: Continuum, name: str) -> tuple[array[int], list[str]]:
    """Cut *name*'s points out of *old*'s points and owners."""
    points, owners = old.points, old.owners
    size = len(points)
    doomed: list[int] = []
    for point in sorted(set(old.node_points[name])):
        index = bisect_left(points, point)
        # Only this node's copies of a collided point go; the other owner's stays.
        while index < size and points[index] == point:
            if owners[index] == name:
                doomed.append(index)
            index += 1
    out_points = array("Q")
    out_owners: list[str] = []
    start = 0
    for index in doomed:
        out_points += points[start:index]
        out_owners += owners[start:index]
        start = index + 1
    out_points += points[start:]
    out_owners += owners[start:size]
    return out_points, out_owners
