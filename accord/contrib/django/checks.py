"""System checks for RingCache entries of ``CACHES`` (ids ``accord.E01x``/``accord.W01x``).

========  ===========================================================
id        problem
========  ===========================================================
E010      ``LOCATION`` malformed: wrong type, empty, unparsable URL
E011      the same node listed twice
E012      a weight that is not a positive number, or too big (points bound)
E013      an unknown option, in ``OPTIONS`` or in a node's dict
E014      a bad option value (e.g. an unknown ``failover`` policy)
W010      a node did not answer PING at startup (the cache still works)
W011      ``MAX_ENTRIES``/``CULL_FREQUENCY`` given: Redis ignores them
========  ===========================================================

Failure behaviour: the checks never raise; every problem becomes a message
with a hint. Passwords never appear in messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from accord.contrib.django.cache.config import CacheConfig, parse_config
from accord.contrib.django.cache.errors import RingCacheConfigError

__all__ = ["BACKENDS", "check_cache_settings", "check_ring_caches"]

#: The BACKEND strings that name RingCache.
BACKENDS = (
    "accord.contrib.django.cache.RingCache",
    "accord.contrib.django.cache.backend.RingCache",
)
_PING_TIMEOUT = 0.5


def check_cache_settings(
    caches: Mapping[str, Mapping[str, Any]], *, ping: bool = True
) -> list[CheckMessage]:
    """Check every RingCache entry of *caches* (a ``CACHES`` setting); never raises."""
    messages: list[CheckMessage] = []
    for alias, entry in caches.items():
        if entry.get("BACKEND") not in BACKENDS:
            continue
        try:
            config = parse_config(
                alias,
                entry.get("LOCATION", ""),
                entry.get("OPTIONS"),
                key_prefix=str(entry.get("KEY_PREFIX", "")),
            )
        except RingCacheConfigError as exc:
            messages.append(Error(exc.message, hint=exc.hint, id=exc.check_id))
            continue
        if config.ignored_options:
            messages.append(
                Warning(
                    f"CACHES[{alias!r}]['OPTIONS'] sets {', '.join(config.ignored_options)}, "
                    "which RingCache ignores.",
                    hint="Redis evicts by itself: set maxmemory and maxmemory-policy "
                    "(e.g. allkeys-lru) on each node, and drop these options.",
                    id="accord.W011",
                )
            )
        if ping:
            messages += _ping_nodes(config)
    return messages


def _ping_nodes(config: CacheConfig) -> list[CheckMessage]:
    from accord.contrib.django.cache.connect import SyncNodes

    short = {"socket_connect_timeout": _PING_TIMEOUT, "socket_timeout": _PING_TIMEOUT}
    nodes = [replace(node, options={**node.options, **short}) for node in config.nodes]
    clients = SyncNodes(replace(config, nodes=tuple(nodes)))
    messages: list[CheckMessage] = []
    for node in nodes:
        try:
            clients.client(node.name).ping()
        except Exception as exc:  # any failure is a warning: the cache still works
            what = {"sentinel": "Sentinel group", "cluster": "Redis Cluster"}.get(node.kind, "node")
            messages.append(
                Warning(
                    f"CACHES[{config.alias!r}]: {what} {node.name!r} did not answer PING "
                    f"({type(exc).__name__}).",
                    hint="Start it or fix its URL. Until it answers, its keys "
                    f"{'raise errors' if config.failover == 'raise' else 'miss or move'} "
                    f"(failover={config.failover!r}).",
                    id="accord.W010",
                )
            )
        finally:
            with contextlib.suppress(Exception):
                clients.client(node.name).close()
    return messages


@register(Tags.caches)
def check_ring_caches(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The registered check: :func:`check_cache_settings` on ``settings.CACHES``."""
    from django.conf import settings

    return check_cache_settings(settings.CACHES)
