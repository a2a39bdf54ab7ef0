"""``redis+sentinel://``: locks on the master of a Redis Sentinel group, following its failovers.

Failure behaviour first: everything in :mod:`~accord.core.lock.backends.redis`
holds, on whichever server the Sentinels name as master. In addition:

* The master is asked of the Sentinels when a connection is made; a command
  that finds the master gone (refused, or a ``READONLY`` former master) is
  sent once more on a connection to the master the Sentinels name then.
  While no master is named (the seconds between a master's death and the
  promotion) acquires, renewals and releases raise
  :class:`~accord.core.errors.LockBackendError`.
* **Replication is asynchronous.** Without ``min_replicas``, a lock taken
  just before the master dies may be missing on the promoted replica: a
  second client then gets it while the first still believes it holds it
  (two holders; only a fenced store refuses the older one's writes). With
  ``min_replicas=1`` (or more), an acquire is granted and a renewal
  confirmed only once that many replicas acknowledged it (``WAIT``, within
  ``replica_timeout``), so a promoted replica that acknowledged it has the
  lock. A promotion of a replica that did not acknowledge (``min_replicas``
  below the number of replicas) can still lose it.
* Tokens survive a promotion: they never go below the server's clock in
  microseconds, and the counter is replicated with the lock.

URL: the same form RingCache reads (see :mod:`accord.core.redis_url`)::

    redis+sentinel://[[user]:password@]s1:26379,s2:26379,s3:26379/service[/db][?sentinel_password=...]
    rediss+sentinel://...     # TLS to the data nodes

Options are the Redis lock's (``socket_timeout``, ``connect_timeout``,
``waiter_lease``, ``min_replicas``, ``replica_timeout``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accord.core.errors import ConfigurationError
from accord.core.hookspecs import hookimpl
from accord.core.lock.backends.redis import RedisBackend, backend_settings
from accord.core.optional import import_optional
from accord.core.redis_url import (
    SENTINEL_QUERY_OPTIONS,
    SENTINEL_SCHEMES,
    MultiHostURL,
    parse_multi_host_url,
    split_sentinel_options,
)
from accord.core.urls import redact, scrub

__all__ = ["RedisSentinelBackend", "accord_lock_backend"]

_FORM = "'redis+sentinel://[[user]:password@]s1:26379,s2:26379,s3:26379/mymaster[/db]'"


class RedisSentinelBackend(RedisBackend):
    """Locks on the master a Sentinel group names; see the module docstring."""

    def __init__(self, url: str, *, target: MultiHostURL, **settings: Any) -> None:
        self.target = target
        super().__init__(url, **settings)

    def _connect(self, redis: Any) -> Any:
        """A client of the group's master, for *redis* (``redis`` or ``redis.asyncio``)."""
        sentinel_module = import_optional(
            f"{redis.__name__}.sentinel", extra="redis", purpose="Redis Sentinel locks"
        )
        to_sentinels, to_data = split_sentinel_options(
            self.target.options, tls=self.target.tls, db=self.target.db
        )
        options = self._client_options(redis)
        to_sentinels.setdefault("socket_timeout", self._socket_timeout)
        to_sentinels.setdefault("socket_connect_timeout", self._connect_timeout)
        manager = sentinel_module.Sentinel(
            list(self.target.hosts), sentinel_kwargs=to_sentinels, **to_data, **options
        )
        return manager.master_for(self.target.service)


@hookimpl
def accord_lock_backend(
    scheme: str, url: str, options: Mapping[str, Any]
) -> RedisSentinelBackend | None:
    """Serve ``redis+sentinel://`` and ``rediss+sentinel://`` (see the module docstring)."""
    if scheme not in SENTINEL_SCHEMES:
        return None
    problem = None
    try:
        target = parse_multi_host_url(url)
    except ValueError as exc:  # may quote a piece of a password: scrubbed, raised outside
        problem = scrub(str(exc), url)
    if problem is not None:
        raise ConfigurationError(
            f"lock URL {redact(url)!r} is invalid: {problem}. Expected {_FORM}."
        ) from ValueError(problem)
    unknown = sorted(set(target.options) - {*SENTINEL_QUERY_OPTIONS, "username", "password"})
    if unknown:
        raise ConfigurationError(
            f"lock URL {redact(url)!r} has the query option {unknown[0]!r}; a Sentinel lock "
            f"URL accepts {', '.join(SENTINEL_QUERY_OPTIONS)} and db there, and takes the "
            "others as lock options (e.g. Lock(..., socket_timeout=2))."
        )
    return RedisSentinelBackend(url, target=target, **backend_settings(options, "Redis Sentinel"))
