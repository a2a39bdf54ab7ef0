"""The consistent hash ring: :class:`HashRing` decides which node owns a key.

Failure behaviour first: bad arguments raise
:class:`~accord.core.errors.ConfigurationError` (a ``ValueError``) or
:class:`~accord.core.errors.RingTypeError` (a ``TypeError``) naming the value
and what is accepted; an unknown hash name raises
:class:`~accord.core.errors.UnknownProviderError`; a lookup on a ring without
nodes raises :class:`~accord.core.errors.EmptyRingError` (a ``LookupError``).

Modules:

=============  ================================================================
``hashring``   :class:`HashRing`: lookups, membership, copies
``continuum``  the immutable sorted points a lookup reads
``ketama``     points and key hashes exactly as libketama / libmemcached compute them
``hashes``     the built-in hash functions (``xxh3``, ``md5``), a built-in plugin
``resolve``    how ``hash=`` becomes the functions a ring calls (plugins included)
``arguments``  checks of the ring's arguments, and the limits they enforce
=============  ================================================================
"""

# The errors a ring raises were importable from accord.core.ring when it was a module.
from accord.core.errors import ConfigurationError as ConfigurationError
from accord.core.errors import EmptyRingError as EmptyRingError
from accord.core.errors import RingTypeError as RingTypeError
from accord.core.ring.arguments import DEFAULT_VNODES, KeyFunction
from accord.core.ring.continuum import Weight
from accord.core.ring.hashring import DEFAULT_HASH, HashRing

__all__ = ["DEFAULT_HASH", "DEFAULT_VNODES", "HashRing", "KeyFunction", "Weight"]
