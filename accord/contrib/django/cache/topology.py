"""A read-only view of a RingCache's nodes and ring, for commands, checks and users' tools.

:meth:`RingCache.topology() <accord.contrib.django.cache.RingCache.topology>`
returns a :class:`Topology`. Nothing in it can change the cache: the ring is
a private copy and "what if" rings are built new (so they fire no
``accord_ring_changed`` hook). No password appears in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from accord.contrib.django.cache.config import build_ring
from accord.contrib.django.cache.keys import hash_tag
from accord.core.errors import ConfigurationError
from accord.core.ring import HashRing

__all__ = ["NodeView", "Topology"]


@dataclass(frozen=True)
class NodeView:
    """One node: ring name, weight, kind (``redis``, ``sentinel``, ``cluster``), redacted URL."""

    name: str
    weight: float
    kind: str
    url: str


class Topology:
    """The nodes of a RingCache and, unless it is one Redis Cluster, its ring."""

    def __init__(self, client: Any) -> None:
        config = client.config
        self._client = client
        self.nodes: tuple[NodeView, ...] = tuple(
            NodeView(node.name, node.weight, node.kind, node.safe_url) for node in config.nodes
        )
        #: True when the backend is one Redis Cluster (then :attr:`ring` is None).
        self.cluster: bool = config.cluster
        #: A copy of the ring (lookups only; changing it changes nothing in the cache).
        self.ring: HashRing | None = None if self.cluster else build_ring(config)
        self._config = config

    def health(self) -> Mapping[str, Mapping[str, object]]:
        """Per node: state (up/failing/out), errors, missed reads, dropped writes, ejections."""
        return MappingProxyType({n: h.stats() for n, h in self._client.router.health.items()})

    def client(self, name: str) -> Any:
        """The redis-py client of node *name* (for read-only commands such as ``DBSIZE``)."""
        return self._client.nodes.client(name)

    def with_node(self, name: str, weight: float = 1.0) -> HashRing:
        """A new ring with node *name* added: what adding it would do. Fires no hook."""
        if self.ring is None:
            raise ConfigurationError(
                "a Redis Cluster places keys by slot; it has no ring to change"
            )
        weights = {**self.ring.nodes, name: weight}
        return self._ring(weights)

    def without_node(self, name: str) -> HashRing:
        """A new ring without node *name*. Fires no hook; ValueError if it is not a node."""
        if self.ring is None:
            raise ConfigurationError(
                "a Redis Cluster places keys by slot; it has no ring to change"
            )
        if name not in self.ring.nodes:
            raise ConfigurationError(
                f"node {name!r} is not in the ring; nodes: {', '.join(self.ring.nodes)}"
            )
        return self._ring({n: w for n, w in self.ring.nodes.items() if n != name})

    def _ring(self, weights: Mapping[str, float]) -> HashRing:
        assert self.ring is not None
        return HashRing(
            dict(weights),
            vnodes=self._config.options.vnodes,
            hash=self._config.options.hash,
            key_func=hash_tag if self._config.options.hash_tags else None,
        )
