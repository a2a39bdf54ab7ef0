"""Checks of :class:`~accord.core.ring.HashRing`'s arguments, and the limits they enforce.

Every function raises :class:`~accord.core.errors.RingTypeError` (a
``TypeError``) for a value of the wrong type and
:class:`~accord.core.errors.ConfigurationError` (a ``ValueError``) for a
value of the right type that is out of range, with a message naming the bad
value and what is accepted, or returns the checked value. Numbers are checked
by the one validator, :func:`accord.core.validate.number`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from accord.core.errors import ConfigurationError, RingTypeError
from accord.core.ring.continuum import Weight
from accord.core.validate import number

__all__ = [
    "DEFAULT_VNODES",
    "MAX_POINTS_PER_NODE",
    "MAX_TOTAL_POINTS",
    "KeyFunction",
    "check_count",
    "check_name",
    "check_points",
    "check_vnodes",
    "check_weight",
    "key_bytes",
    "parse_nodes",
]

#: Maps a key's bytes to the bytes that are hashed (e.g. a hash tag).
KeyFunction = Callable[[bytes], bytes]
# A single node cannot own more points than this: a weight of 1e9 is
# certainly a unit mistake, and would otherwise exhaust memory.
MAX_POINTS_PER_NODE = 1 << 20
#: The whole ring cannot hold more points: about 2 s to build and 100 MB. Beyond it a
#: weight is surely in the wrong unit (a weight of 1e30 would otherwise never finish).
MAX_TOTAL_POINTS = 1 << 21
#: Points per node of weight 1 when no ``vnodes`` is given. A node's share
#: varies by about 1/sqrt(vnodes); 512 gives a mean max/mean load of about
#: 1.07 over 10 nodes (320 gave 1.09, too close to the 1.10 target; see
#: docs/ring.rst), for about 25 KiB of memory per node.
DEFAULT_VNODES = 512


def _number(value: object, name: str, *, integer: bool = False, **checks: Any) -> float:
    """:func:`~accord.core.validate.number`, raising RingTypeError for a value that is no number."""
    kinds = (int,) if integer else (int, float)
    right_type = isinstance(value, kinds) and not isinstance(value, bool)
    error = ConfigurationError if right_type else RingTypeError
    return number(value, name, integer=integer, error=error, **checks)


def key_bytes(key: object) -> bytes:
    """*key* as bytes (a ``str`` encoded as UTF-8)."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return bytes(key)
    raise RingTypeError(
        f"ring keys must be str or bytes, got {type(key).__name__} {key!r}; "
        "convert it first, e.g. str(key)"
    )


def check_name(name: object) -> None:
    """A node name: a non-blank ``str``."""
    if not isinstance(name, str):
        raise RingTypeError(f"node names must be str, got {type(name).__name__} {name!r}")
    if not name.strip():
        raise ConfigurationError(
            f"node name {name!r} is empty; use e.g. 'host:port' or a URL without password"
        )


def check_weight(name: str, weight: object) -> None:
    """A node weight: a finite int or float > 0."""
    _number(
        weight,
        f"weight of node {name!r}",
        sep=" = ",
        minimum=0,
        above=True,
        hint="Weights are relative, e.g. 1 for most nodes and 2 for one twice as big.",
    )


def check_vnodes(vnodes: object) -> int:
    """``vnodes``: an int from 1 to :data:`MAX_POINTS_PER_NODE`."""
    return int(
        _number(
            vnodes,
            "vnodes",
            integer=True,
            minimum=1,
            maximum=MAX_POINTS_PER_NODE,
            hint=f"The default is {DEFAULT_VNODES}.",
        )
    )


def check_count(n: object, weights: Mapping[str, Weight]) -> int:
    """``get_nodes``' *n*: an int from 0 to the number of nodes in *weights*."""
    names = ", ".join(map(repr, weights)) or "none"
    return int(
        _number(
            n,
            "n",
            integer=True,
            minimum=0,
            maximum=len(weights),
            hint=f"The ring has {len(weights)} nodes: {names}.",
        )
    )


def check_points(weights: Mapping[str, Weight], vnodes: int) -> None:
    """Refuse weights that would make more than :data:`MAX_TOTAL_POINTS` points."""
    total = 0.0
    for name, weight in weights.items():
        count = max(1.0, vnodes * float(weight))
        if count > MAX_POINTS_PER_NODE:
            raise ConfigurationError(
                f"weight {weight!r} of node {name!r} would give it {count:.3g} ring points "
                f"(vnodes={vnodes} per unit of weight), more than {MAX_POINTS_PER_NODE}; "
                "weights are relative: use small numbers, e.g. 1 and 2"
            )
        total += count
    if total > MAX_TOTAL_POINTS:
        raise ConfigurationError(
            f"{len(weights)} nodes with these weights would make {total:.3g} ring points, "
            f"more than {MAX_TOTAL_POINTS}; lower the weights (they are relative) or vnodes"
        )


def parse_nodes(nodes: Iterable[str] | Mapping[str, Weight] | None) -> dict[str, Weight]:
    """``nodes``: names (weight 1 each) or a mapping of name to weight; names unique."""
    if nodes is None:
        return {}
    if isinstance(nodes, (str, bytes)):
        raise RingTypeError(
            f"nodes must be an iterable of names or a mapping of name to weight, "
            f"not a single {type(nodes).__name__} {nodes!r}; write [{nodes!r}]"
        )
    if isinstance(nodes, Mapping):
        pairs: Iterable[tuple[object, object]] = nodes.items()
    elif isinstance(nodes, Iterable):
        pairs = ((name, 1) for name in nodes)
    else:
        raise RingTypeError(
            f"nodes must be an iterable of names or a mapping of name to weight, "
            f"got {type(nodes).__name__} {nodes!r}"
        )
    weights: dict[str, Weight] = {}
    for name, weight in pairs:
        check_name(name)
        assert isinstance(name, str)  # narrowed by check_name
        check_weight(name, weight)
        assert isinstance(weight, (int, float))
        if name in weights:
            raise ConfigurationError(f"node {name!r} is listed twice; node names must be unique")
        weights[name] = weight
    return weights
