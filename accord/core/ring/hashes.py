"""Built-in hash functions for the ring, provided through ``accord_hash_function``.

* ``md5``: the first 8 bytes of the MD5 digest, little-endian. Slow-ish but
  available everywhere, in every language.
* ``xxh3``: 64-bit XXH3 (``xxhash`` package), the default: several times
  faster than md5 and as well spread for this purpose.
"""

from __future__ import annotations

import hashlib

import xxhash

from accord.core.hookspecs import HashFunction, hookimpl


def md5(data: bytes) -> int:
    """The first 8 bytes of MD5(*data*), read little-endian."""
    return int.from_bytes(hashlib.md5(data, usedforsecurity=False).digest()[:8], "little")


xxh3: HashFunction = xxhash.xxh3_64_intdigest

BUILTIN: dict[str, HashFunction] = {"md5": md5, "xxh3": xxh3}


@hookimpl
def accord_hash_function(name: str) -> HashFunction | None:
    return BUILTIN.get(name)
