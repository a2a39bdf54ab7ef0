"""Argument checks and hash resolution for :class:`~accord.core.ring.HashRing`.

Every function raises :class:`~accord.core.errors.ConfigurationError` (a
``ValueError``) or :class:`~accord.core.errors.RingTypeError` (a
``TypeError``) with a message naming the bad value and what is accepted, or
returns the checked value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from accord.core import ketama
from accord.core.continuum import Weight
from accord.core.errors import ConfigurationError, RingTypeError, UnknownProviderError
from accord.core.hookspecs import HashFunction
from accord.core.plugins import get_plugin_manager

__all__ = [
    "DEFAULT_VNODES",
    "MAX_POINTS_PER_NODE",
    "MAX_TOTAL_POINTS",
    "KeyFunction",
    "check_name",
    "check_vnodes",
    "check_weight",
    "key_bytes",
    "key_hasher",
    "parse_nodes",
    "resolve_hash",
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
_HASH_SPACE = 1 << 64


def resolve_hash(hash: str | HashFunction) -> tuple[str, HashFunction, str | None]:
    """Return the hash's display name, its function and the ketama dialect (or None)."""
    if isinstance(hash, str):
        if hash in ketama.DIALECTS:
            return hash, ketama.key_hash, ketama.DIALECTS[hash]
        function = get_plugin_manager().hook.accord_hash_function(name=hash)
        if function is None:
            raise UnknownProviderError(_unknown_hash_message(hash))
        return hash, function, None
    if callable(hash):
        return getattr(hash, "__name__", type(hash).__name__), hash, None
    raise RingTypeError(
        f"hash must be a hash name or a callable bytes -> int, got {type(hash).__name__} {hash!r}"
    )


def key_hasher(hash_: HashFunction, key_func: KeyFunction | None, name: str) -> HashFunction:
    """The function a lookup calls: *key_func* then *hash_*, range-checked unless built in."""
    from accord.core.hashes import BUILTIN

    if hash_ is not ketama.key_hash and hash_ not in BUILTIN.values():
        unchecked = hash_

        # An out-of-range hash would index past the bucket table (and look
        # like an empty ring) or, negative, silently pick a wrong node.
        def hash_(data: bytes) -> int:
            hashed = unchecked(data)
            if type(hashed) is not int or not 0 <= hashed < _HASH_SPACE:
                raise ConfigurationError(
                    f"hash {name!r} returned {hashed!r} for {data!r}; a ring hash must "
                    "return ints in [0, 2**64)"
                )
            return hashed

    if key_func is None:
        return hash_
    checked = hash_

    def hash_with_key_func(data: bytes) -> int:
        return checked(key_func(data))

    return hash_with_key_func


def key_bytes(key: object) -> bytes:
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return bytes(key)
    raise RingTypeError(
        f"ring keys must be str or bytes, got {type(key).__name__} {key!r}; "
        "convert it first, e.g. str(key)"
    )


def check_name(name: object) -> None:
    if not isinstance(name, str):
        raise RingTypeError(f"node names must be str, got {type(name).__name__} {name!r}")
    if not name.strip():
        raise ConfigurationError(
            f"node name {name!r} is empty; use e.g. 'host:port' or a URL without password"
        )


def check_weight(name: str, weight: object) -> None:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise RingTypeError(
            f"weight of node {name!r} must be a positive int or float, "
            f"got {type(weight).__name__} {weight!r}"
        )
    if not (weight > 0 and (isinstance(weight, int) or math.isfinite(weight))):
        raise ConfigurationError(
            f"weight of node {name!r} must be positive and finite, got {weight!r}; "
            "weights are relative, e.g. 1 for most nodes and 2 for one twice as big"
        )


def check_vnodes(vnodes: object) -> int:
    if isinstance(vnodes, bool) or not isinstance(vnodes, int):
        raise RingTypeError(f"vnodes must be an int, got {type(vnodes).__name__} {vnodes!r}")
    if not 1 <= vnodes <= MAX_POINTS_PER_NODE:
        raise ConfigurationError(
            f"vnodes must be between 1 and {MAX_POINTS_PER_NODE}, got {vnodes}; "
            f"the default is {DEFAULT_VNODES}"
        )
    return vnodes


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


def _unknown_hash_message(name: str) -> str:
    from accord.core.hashes import BUILTIN

    known = sorted({*BUILTIN, *ketama.DIALECTS})
    message = (
        f"unknown hash {name!r}; built-in choices: {', '.join(map(repr, known))}, "
        "or a callable bytes -> int. Plugins can add names through accord_hash_function."
    )
    failed = get_plugin_manager().failed_plugins
    if failed:
        message += f" Plugins that failed to load: {', '.join(sorted(failed))}."
    return message
