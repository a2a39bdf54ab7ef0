"""A RingCache's checked configuration: ``LOCATION`` (nodes) plus ``OPTIONS``.

Failure behaviour: every mistake a user can make raises
:class:`RingCacheConfigError` (an accord ``ConfigurationError`` and a Django
``ImproperlyConfigured``) whose message names the cache alias, the setting
at fault (passwords replaced by ``***``) and the accepted forms; it carries
the system-check id and hint that ``accord.contrib.django.checks`` reports.
Nothing here opens a connection. The forms are described in
:mod:`~accord.contrib.django.cache.locations` and
:mod:`~accord.contrib.django.cache.options`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accord.contrib.django.cache.errors import RingCacheConfigError
from accord.contrib.django.cache.keys import hash_tag
from accord.contrib.django.cache.locations import NodeConfig, parse_location
from accord.contrib.django.cache.options import (
    FAILOVER_POLICIES,
    RingOptions,
    parse_options,
)
from accord.core.errors import AccordError
from accord.core.ring import HashRing
from accord.core.urls import moved_redact

__all__ = [
    "FAILOVER_POLICIES",
    "MAX_WEIGHT",
    "CacheConfig",
    "NodeConfig",
    "RingCacheConfigError",
    "RingOptions",
    "build_ring",
    "parse_config",
]

#: The largest node weight accepted (weights are relative; each unit costs ring points).
MAX_WEIGHT = 100.0


@dataclass(frozen=True)
class CacheConfig:
    """A checked RingCache configuration.

    ``cluster`` is True when ``LOCATION`` is one ``redis+cluster://`` URL:
    then :attr:`nodes` holds that one entry and slots replace the ring.
    """

    alias: str
    nodes: tuple[NodeConfig, ...]
    options: RingOptions = field(default_factory=RingOptions)
    key_prefix: str = ""
    ignored_options: tuple[str, ...] = ()

    @property
    def cluster(self) -> bool:
        """True when the backend is one Redis Cluster."""
        return self.nodes[0].kind == "cluster"

    @property
    def failover(self) -> str:
        """The failover policy (a shortcut for ``options.failover``)."""
        return self.options.failover


def build_ring(config: CacheConfig) -> HashRing:
    """The ring of *config*'s nodes (hash tags honoured if enabled)."""
    options = config.options
    weights = {node.name: node.weight for node in config.nodes}
    key_func = hash_tag if options.hash_tags else None
    return HashRing(weights, vnodes=options.vnodes, hash=options.hash, key_func=key_func)


def parse_config(
    alias: str, location: object, options: object, *, key_prefix: str = ""
) -> CacheConfig:
    """Check ``LOCATION`` and ``OPTIONS`` of cache *alias* and return the configuration.

    :raises RingCacheConfigError: anything is malformed.
    """
    where = f"CACHES[{alias!r}]"
    ring_options, connection, ignored, known = parse_options(where, options)
    nodes = parse_location(where, location, connection, known, max_weight=MAX_WEIGHT)
    config = CacheConfig(alias, nodes, ring_options, key_prefix, ignored)
    try:
        build_ring(config)
    except (AccordError, ValueError, TypeError) as exc:
        weights = "weight" in str(exc) or "points" in str(exc)
        setting = "LOCATION" if weights else "OPTIONS"
        raise RingCacheConfigError(
            f"{where}[{setting!r}] does not make a valid ring: {exc}",
            check_id="accord.E012" if weights else "accord.E014",
            hint="Check the weights (small relative numbers), 'vnodes' (a positive int) and "
            "'hash' ('xxh3', 'md5', 'ketama', 'ketama-libmemcached' or a plugin's name).",
        ) from exc
    return config


def __getattr__(name: str) -> object:
    return moved_redact(__name__, name)
