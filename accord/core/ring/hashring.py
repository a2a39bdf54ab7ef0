"""The consistent hash ring: which node owns a key.

:class:`HashRing` places every node at many points of a circle (the
*continuum*) and sends a key to the first point at or after the key's hash,
wrapping around. Adding or removing a node moves only the keys of the arcs
that change hands.

Failure behaviour, for every method:

* bad arguments raise :class:`~accord.core.errors.ConfigurationError` (a
  ``ValueError``) or :class:`~accord.core.errors.RingTypeError` (a
  ``TypeError``), naming the value and what is accepted; the ring is left
  unchanged;
* an unknown hash name raises
  :class:`~accord.core.errors.UnknownProviderError` listing the known names;
* a lookup on a ring without nodes raises
  :class:`~accord.core.errors.EmptyRingError` (a ``LookupError``).

Concurrency: lookups take no lock. The continuum is an immutable snapshot
replaced by one attribute assignment, so a lookup running while another
thread adds or removes a node sees the old ring or the new one, never a mix.
Writers serialise on a per-ring lock.
"""

from __future__ import annotations

import copy as _copy
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from accord.core.errors import ConfigurationError, EmptyRingError, RingTypeError
from accord.core.hookspecs import HashFunction
from accord.core.plugins import notify
from accord.core.ring import arguments, continuum, ketama
from accord.core.ring.arguments import DEFAULT_VNODES, KeyFunction
from accord.core.ring.continuum import Continuum, Weight
from accord.core.ring.ketama import fast_md5, first_word
from accord.core.ring.resolve import key_hasher, resolve_hash

__all__ = ["DEFAULT_HASH", "DEFAULT_VNODES", "HashRing", "KeyFunction", "Weight"]

#: The hash used when no ``hash`` is given.
DEFAULT_HASH = "xxh3"

_HASH_BITS = 64
_KETAMA_BITS = 32


class HashRing:
    """A consistent hash ring of named nodes.

    :param nodes: node names (weight 1 each), or a mapping ``{name: weight}``.
    :param vnodes: points per node of weight 1 (default
        :data:`DEFAULT_VNODES`); a node of weight *w* gets
        ``max(1, round(vnodes * w))``. Not allowed with ketama, which fixes
        160 points per node of average weight.
    :param hash: a hash name (``"xxh3"``, ``"md5"``, or one a plugin
        provides through ``accord_hash_function``), ``"ketama"`` /
        ``"ketama-libmemcached"`` / ``"ketama-twemproxy"`` for placement
        compatible with those C clients (see :mod:`accord.core.ring.ketama`), or a
        callable ``bytes -> int`` returning values in ``[0, 2**64)``.
    :param key_func: applied to a key's bytes before hashing, to route by a
        part of the key (e.g. a hash tag). It must return ``bytes``.
    :raises ConfigurationError: a node name is empty or repeated, a weight
        is zero, negative, NaN or infinite, or ``vnodes`` is not positive.
    :raises RingTypeError: a name, weight, ``vnodes``, ``hash`` or
        ``key_func`` has the wrong type.
    :raises UnknownProviderError: no built-in or plugin knows *hash*.

    Keys are ``str`` (encoded as UTF-8) or ``bytes``; the same key always
    maps to the same node for the same membership, in every process.
    Building a ring does not fire ``accord_ring_changed``; later
    :meth:`add_node` and :meth:`remove_node` calls do.

    Equal points (a hash collision between two nodes) are ordered by node
    name, so the node with the smaller name owns the point whatever the
    order the nodes were added in; when it leaves, the other node's point
    takes over.
    """

    def __init__(
        self,
        nodes: Iterable[str] | Mapping[str, Weight] | None = None,
        *,
        vnodes: int | None = None,
        hash: str | HashFunction = DEFAULT_HASH,
        key_func: KeyFunction | None = None,
    ) -> None:
        self._hash_name, self._point_hash, self._dialect = resolve_hash(hash)
        if self._dialect is not None:
            if vnodes is not None:
                raise ConfigurationError(
                    f"vnodes={vnodes!r} cannot be used with hash={hash!r}: ketama fixes 160 "
                    "points per node of average weight. Drop vnodes, or use hash='xxh3' to "
                    "choose the number of points."
                )
            vnodes = 160
        self._vnodes = arguments.check_vnodes(DEFAULT_VNODES if vnodes is None else vnodes)
        if key_func is not None and not callable(key_func):
            raise RingTypeError(
                f"key_func must be a callable taking bytes and returning bytes, or None; "
                f"got {type(key_func).__name__} {key_func!r}"
            )
        self._key_func = key_func
        self._hash: HashFunction | None = key_hasher(self._point_hash, key_func, self._hash_name)
        if self._hash is ketama.key_hash:
            self._hash = None  # get_node inlines it
        self._space_bits = _KETAMA_BITS if self._dialect else _HASH_BITS
        self._lock = threading.Lock()
        self._state = continuum.EMPTY
        weights = arguments.parse_nodes(nodes)
        if weights:
            self._state = self._rebuild(weights)

    # ------------------------------------------------------------ lookups

    def get_node(self, key: str | bytes) -> str:
        """Return the name of the node that owns *key*.

        :raises EmptyRingError: the ring has no nodes.
        :raises RingTypeError: *key* is neither ``str`` nor ``bytes``.
        """
        # The hot path: one snapshot read, one hash, usually one table index.
        direct, owners, points, starts, shift, _, _ = self._state
        if type(key) is str:
            data = key.encode()
        elif type(key) is bytes:
            data = key
        else:
            data = arguments.key_bytes(key)
        hash_ = self._hash
        if hash_ is None:
            # Plain ketama: MD5 inlined, as a Python call costs a third of MD5 itself.
            hashed: int = first_word(fast_md5(data).digest())[0]
        else:
            hashed = hash_(data)
        bucket = hashed >> shift
        try:
            owner = direct[bucket]  # IndexError: the ring is empty
            if owner is None:
                # owners repeats owners[0] at its end: a hash past the last point wraps.
                return owners[bisect_left(points, hashed, starts[bucket], starts[bucket + 1])]
            return owner
        except IndexError:
            raise EmptyRingError(
                f"cannot look up {key!r}: the ring has no nodes. Add one with add_node(name)."
            ) from None

    def get_nodes(self, key: str | bytes, n: int) -> list[str]:
        """Return *n* distinct nodes for *key*, in preference order.

        The first is :meth:`get_node`\\ ``(key)``; the others follow the
        continuum clockwise, as replicas or failover targets. Nodes that own
        no point (possible in ketama mode for a tiny weight) come last, by name.

        :raises EmptyRingError: the ring has no nodes and *n* > 0.
        :raises ConfigurationError: *n* is negative or larger than the number
            of nodes.
        :raises RingTypeError: *n* is not an int, or *key* is not ``str``/``bytes``.
        """
        state = self._state
        if isinstance(n, bool) or not isinstance(n, int):
            arguments.check_count(n, state.weights)  # raises RingTypeError
        data = arguments.key_bytes(key)
        if n > 0 and not state.points:
            raise EmptyRingError(
                f"cannot look up {key!r}: the ring has no nodes. Add one with add_node(name)."
            )
        n = arguments.check_count(n, state.weights)
        if n == 0:
            return []
        _, owners, points, starts, shift, _, _ = state
        hashed = (self._hash or ketama.key_hash)(data)
        start = bisect_left(points, hashed, starts[hashed >> shift], starts[(hashed >> shift) + 1])
        found: dict[str, None] = {}
        for index in (*range(start, len(points)), *range(start)):
            found[owners[index]] = None
            if len(found) == n:
                return list(found)
        for name in sorted(state.weights):
            found.setdefault(name, None)
            if len(found) == n:
                break
        return list(found)

    def distribution(self) -> dict[str, float]:
        """Return each node's share of the hash space (the shares sum to 1).

        This is the fraction of uniformly random keys the node gets; nodes
        without points have 0.0. An empty ring gives ``{}``. Never raises.
        """
        state = self._state
        shares = dict.fromkeys(state.weights, 0.0)
        points = state.points
        if not points:
            return shares
        # A callable hash may exceed its documented range; widen rather than go negative.
        space = 1 << self._space_bits
        arcs = dict.fromkeys(state.weights, 0)
        previous = points[-1] - space  # the arc that wraps past zero
        # owners has one more entry than points (the wrap-around): zip stops early.
        for point, owner in zip(points, state.owners, strict=False):
            arcs[owner] += point - previous
            previous = point
        for name, arc in arcs.items():
            shares[name] = arc / space
        return shares

    def points(self) -> list[tuple[int, str]]:
        """Return the continuum as sorted ``(point, node)`` pairs. Never raises.

        Equal points appear once per owner, smallest name first (that one
        owns the point).
        """
        state = self._state
        return list(zip(state.points, state.owners, strict=False))

    # --------------------------------------------------------- membership

    @property
    def nodes(self) -> Mapping[str, Weight]:
        """A read-only mapping of node name to weight, in insertion order."""
        return MappingProxyType(self._state.weights)

    @property
    def hash_name(self) -> str:
        """The hash in use: its name, or the callable's ``__name__``."""
        return self._hash_name

    @property
    def vnodes(self) -> int:
        """Points per node of weight 1 (160 in ketama mode)."""
        return self._vnodes

    def add_node(self, name: str, weight: Weight = 1) -> None:
        """Add node *name* with *weight*, then fire ``accord_ring_changed``.

        Only the new node's points are hashed and merged in (in ketama mode
        with unequal weights, other nodes whose point counts change are
        adjusted too, as libketama would).

        :raises ConfigurationError: *name* is empty or already in the ring,
            or *weight* is not positive and finite.
        :raises RingTypeError: *name* is not a ``str`` or *weight* not a number.
        """
        arguments.check_name(name)
        arguments.check_weight(name, weight)
        with self._lock:
            state = self._state
            if name in state.weights:
                raise ConfigurationError(
                    f"node {name!r} is already in the ring (weight {state.weights[name]!r}); "
                    "remove it first to change its weight"
                )
            weights = {**state.weights, name: weight}
            self._state = self._rebuild(weights, state, added=name)
        notify("accord_ring_changed", ring=self, added=(name,), removed=())

    def remove_node(self, name: str) -> None:
        """Remove node *name*, then fire ``accord_ring_changed``.

        Only that node's keys move (in ketama mode with unequal weights,
        libketama's recount may also shift some points of other nodes).

        :raises ConfigurationError: *name* is not in the ring (the message
            lists the nodes).
        """
        with self._lock:
            state = self._state
            if not isinstance(name, str) or name not in state.weights:
                raise ConfigurationError(
                    f"node {name!r} is not in the ring; nodes: "
                    f"{', '.join(map(repr, state.weights)) or 'none'}"
                )
            weights = {k: v for k, v in state.weights.items() if k != name}
            self._state = self._rebuild(weights, state, removed=name)
        notify("accord_ring_changed", ring=self, added=(), removed=(name,))

    def __len__(self) -> int:
        return len(self._state.weights)

    def __contains__(self, name: object) -> bool:
        return name in self._state.weights

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._state.weights))

    def __repr__(self) -> str:
        state = self._state
        return (
            f"<HashRing nodes={len(state.weights)} points={len(state.points)} "
            f"hash={self._hash_name!r} vnodes={self._vnodes}>"
        )

    def copy(self) -> HashRing:
        """Return an independent ring with the same nodes, in O(1).

        The copy shares the immutable continuum; later changes to either
        ring do not affect the other. Never raises.
        """
        return _copy.copy(self)

    def __copy__(self) -> HashRing:
        clone = object.__new__(HashRing)
        clone.__dict__.update(self.__dict__)
        clone._lock = threading.Lock()
        return clone

    def __deepcopy__(self, memo: dict[int, object]) -> HashRing:
        # The continuum is immutable, so sharing it is as good as copying it.
        return self.__copy__()

    # ------------------------------------------------------------ internals

    def _points_of(self, name: str, weight: Weight) -> array[int]:
        count = max(1, round(self._vnodes * weight))
        hash_ = self._point_hash
        points = [hash_(f"{name}-{i}".encode()) for i in range(count)]
        try:
            return array("Q", points)
        except (OverflowError, TypeError):
            raise ConfigurationError(
                f"hash {self._hash_name!r} returned {min(points)!r}..{max(points)!r} for the "
                f"points of node {name!r}; a ring hash must return ints in [0, 2**64)"
            ) from None

    def _rebuild(
        self,
        weights: dict[str, Weight],
        old: Continuum | None = None,
        added: str | None = None,
        removed: str | None = None,
    ) -> Continuum:
        """Compute the continuum for *weights*, reusing *old*'s points per node."""
        known = old.node_points if old is not None else {}
        node_points: dict[str, array[int]] = {}
        if self._dialect is None:
            arguments.check_points(weights, self._vnodes)
            for name, weight in weights.items():
                node_points[name] = known.get(name) or self._points_of(name, weight)
        else:
            # libketama recounts every node's digests when membership changes;
            # a node keeps its point array (same object) while its count stands.
            for name, count in ketama.digest_counts(weights, self._dialect).items():
                points = known.get(name)
                if points is None or len(points) != 4 * count:
                    points = array("Q", ketama.node_points(name, count, self._dialect))
                node_points[name] = points
        others_kept = old is not None and all(
            node_points[name] is known.get(name) for name in node_points if name != added
        )
        if old is not None and others_kept and added is not None:
            points, owners = continuum.insert_node(old, added, node_points[added])
        elif old is not None and others_kept and removed is not None:
            points, owners = continuum.delete_node(old, removed)
        else:
            points, owners = continuum.build(node_points)
        return continuum.finish(points, owners, weights, node_points, self._space_bits)
