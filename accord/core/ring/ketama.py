"""Ketama continuum points, exactly as the C implementations compute them.

:class:`~accord.core.ring.HashRing` uses this module when built with
``hash="ketama"`` or ``hash="ketama-libmemcached"`` (alias
``"ketama-twemproxy"``). Nothing here raises on valid input; the ring
validates node names and weights before calling in.

Both dialects share the point scheme of libketama (``libketama/ketama.c``,
``ketama_create_continuum``): a node gets *c* MD5 digests of
``"<name>-<k>"`` for ``k`` in ``0..c-1``, and each 16-byte digest gives four
points, its four little-endian 32-bit words. A key goes to the first point
``>=`` the first little-endian 32-bit word of ``MD5(key)``, wrapping to the
first point of the continuum. They differ in two details:

``ketama`` (libketama, and uhashring's ``hash_fn="ketama"``)
    ``c = floorf(pct * 40.0 * n)`` where ``pct`` is the node's weight share
    as a C ``float`` and the product is computed in ``double``, then
    rounded to ``float`` by ``floorf``'s parameter. The point string uses
    the node name as written, port included.

``ketama-libmemcached`` (libmemcached ``KETAMA_WEIGHTED``, twemproxy)
    ``c = floorf((float)(pct * 160 / 4 * (float)n + 0.0000000001))``, every
    step in C ``float`` (libmemcached ``libmemcached/hosts.cc``
    ``update_continuum``; twemproxy ``src/hashkit/nc_ketama.c``
    ``ketama_update``). A trailing ``:11211`` (memcached's default port) is
    dropped from the point string, so node ``"10.0.0.1:11211"`` hashes as
    ``"10.0.0.1-<k>"`` while ``"10.0.0.1:11212"`` keeps its port.

With equal weights both give 40 digests (160 points) per node for the node
counts checked in the tests; with unequal weights they can differ by one
digest for some nodes, so a mixed fleet must agree on the dialect.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import struct
from collections.abc import Callable, Mapping

__all__ = [
    "DEFAULT_PORT_SUFFIX",
    "DIALECTS",
    "digest_counts",
    "fast_md5",
    "first_word",
    "key_hash",
    "node_points",
    "point_label",
]

#: Ring ``hash=`` names that select ketama placement, and the dialect each means.
DIALECTS: dict[str, str] = {
    "ketama": "libketama",
    "ketama-libmemcached": "libmemcached",
    "ketama-twemproxy": "libmemcached",
}
#: libmemcached and twemproxy leave this port out of a node's point string.
DEFAULT_PORT_SUFFIX = ":11211"


def _fast_md5() -> Callable[[bytes], hashlib._Hash]:
    # CPython's own MD5 (module _md5) is about twice as fast as OpenSSL's
    # through hashlib for short inputs, where the per-call setup dominates.
    # Some builds leave it out; the digest is the same either way.
    try:
        return importlib.import_module("_md5").md5  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return hashlib.md5


#: MD5 constructor: CPython's built-in one when available, else hashlib's.
fast_md5 = _fast_md5()
#: Reads the first little-endian 32-bit word of a buffer, as a 1-tuple.
first_word = struct.Struct("<I").unpack_from
_words = struct.Struct("<4I").unpack
_f32 = struct.Struct("<f")


def _float32(x: float) -> float:
    """Round a double to the nearest C ``float`` (what an implicit conversion does)."""
    return float(_f32.unpack(_f32.pack(x))[0])


def key_hash(data: bytes) -> int:
    """The ketama hash of a key: the first 4 bytes of ``MD5(data)``, little-endian.

    :raises TypeError: *data* is not bytes-like.
    """
    hashed: int = first_word(fast_md5(data).digest())[0]
    return hashed


def point_label(name: str, dialect: str) -> str:
    """The string a node's points are hashed from (before ``-<k>``).

    libketama uses *name* as is; libmemcached/twemproxy drop a trailing
    ``:11211``.
    """
    if dialect == "libmemcached" and name.endswith(DEFAULT_PORT_SUFFIX):
        return name[: -len(DEFAULT_PORT_SUFFIX)]
    return name


def digest_counts(weights: Mapping[str, float], dialect: str) -> dict[str, int]:
    """How many MD5 digests (4 points each) every node gets, as the C code computes it.

    The arithmetic mirrors the C sources step by step, including where they
    round to 32-bit ``float``: that rounding decides ``floor`` near integer
    boundaries, and an exact (rational) computation would disagree with the
    deployed clients for some weight sets. Python floats are IEEE doubles, and
    a float32 product or quotient computed in double then rounded once to
    float32 is correctly rounded (53 >= 2*24 + 2), so the emulation is exact.

    A node whose share is tiny can get 0 digests (no points); the ring still
    lists it, last, in preference lists.
    """
    n = len(weights)
    if n == 0:
        return {}
    total = _float32(float(sum(weights.values())))
    count = _float32(float(n))
    result: dict[str, int] = {}
    for name, weight in weights.items():
        pct = _float32(_float32(float(weight)) / total)
        if dialect == "libketama":
            # floorf(pct * 40.0 * (float)n): double product, float argument.
            digests = math.floor(_float32(pct * 40.0 * count))
        else:
            # floorf((float)(pct * 160 / 4 * (float)n + 0.0000000001)), all float.
            scaled = _float32(_float32(_float32(pct * 160.0) / 4.0) * count)
            digests = math.floor(_float32(scaled + 0.0000000001))
        result[name] = digests
    return result


def node_points(name: str, digests: int, dialect: str) -> list[int]:
    """The continuum points of node *name* with *digests* digests, in generation order.

    Point ``4*k + h`` is word ``h`` (little-endian) of ``MD5("<label>-<k>")``,
    where the label is :func:`point_label`. Names are encoded as UTF-8, as a
    C client would send the bytes of its configuration string.
    """
    label = point_label(name, dialect)
    points: list[int] = []
    for k in range(digests):
        points.extend(_words(fast_md5(f"{label}-{k}".encode()).digest()))
    return points
