"""How a ring's ``hash=`` argument becomes the functions it calls.

Failure behaviour: an unknown hash name raises
:class:`~accord.core.errors.UnknownProviderError` listing the built-in names
(and plugins that failed to load); a ``hash`` that is neither a name nor a
callable raises :class:`~accord.core.errors.RingTypeError`. A callable hash
that returns something other than an int in ``[0, 2**64)`` raises
:class:`~accord.core.errors.ConfigurationError` when the ring calls it.
"""

from __future__ import annotations

from accord.core.errors import ConfigurationError, RingTypeError, UnknownProviderError
from accord.core.hookspecs import HashFunction
from accord.core.plugins import get_plugin_manager
from accord.core.ring import ketama
from accord.core.ring.arguments import KeyFunction
from accord.core.ring.hashes import BUILTIN

__all__ = ["key_hasher", "resolve_hash"]

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


def _unknown_hash_message(name: str) -> str:
    known = sorted({*BUILTIN, *ketama.DIALECTS})
    message = (
        f"unknown hash {name!r}; built-in choices: {', '.join(map(repr, known))}, "
        "or a callable bytes -> int. Plugins can add names through accord_hash_function."
    )
    failed = get_plugin_manager().failed_plugins
    if failed:
        message += f" Plugins that failed to load: {', '.join(sorted(failed))}."
    return message
