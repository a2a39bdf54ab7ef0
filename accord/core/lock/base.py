"""The lock backend contract, and how a URL becomes a backend.

Failure behaviour first: :func:`get_backend` raises
:class:`~accord.core.errors.ConfigurationError` for a malformed URL or option
(naming the value and the accepted forms) and
:class:`~accord.core.errors.UnknownProviderError` when no plugin serves the
URL's scheme. Backend methods raise
:class:`~accord.core.errors.LockBackendError` (cause chained) when their
server fails; they never wait past the deadline they are given.

A backend is one object per URL and options, shared by every
:class:`~accord.core.lock.Lock` of the process that uses that URL. It knows
nothing of leases being renewed or lost: :class:`~accord.core.lock.Lock`
calls it. Each acquisition is identified by an *owner* string that the lock
makes unique; a backend checks it on renew and release so that a holder
whose lease ended can never release or extend another holder's lease.

Backends that also implement :class:`OwnerAwareBackend` let a caller choose
the owner (e.g. a Celery task id) and act on that acquisition from any
process: the same owner acquiring again adopts the lease (same token),
``release``/``renew`` work from another process, and :meth:`~OwnerAwareBackend.holder`
names the current owner, and :meth:`~OwnerAwareBackend.take_over` passes a
lease to another owner with a new token. Redis, ZooKeeper and memory do; ``file://`` cannot
(its lease is an open file of the process that took it).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from accord.core.errors import ConfigurationError, UnknownProviderError
from accord.core.urls import moved_redact
from accord.core.urls import redact as _redact
from accord.core.validate import number

__all__ = [
    "BUILTIN_SCHEMES",
    "LockBackend",
    "OwnerAwareBackend",
    "clear_backend_cache",
    "get_backend",
]

#: The URL schemes accord serves itself (a plugin may add more).
BUILTIN_SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+sentinel",
    "rediss+sentinel",
    "zookeeper",
    "file",
    "memory",
)


@runtime_checkable
class LockBackend(Protocol):
    """What a lock backend provides; third-party backends implement the same.

    ``url`` is the backend's URL without password (for logs and hooks).
    ``expires`` is True when the server ends a lease by itself after ``ttl``
    seconds (Redis, memory); False when a lease lasts as long as the holder's
    session or process (ZooKeeper, file), and ``ttl`` is then advisory.

    Optional, looked up with ``getattr`` (accord's backends have them):

    * ``cancellable = True`` and a keyword ``cancel`` (a
      :class:`threading.Event`) on :meth:`acquire`: set, a waiting acquire
      gives up soon and returns None (what
      :class:`~accord.core.lock.AsyncLock` needs to abandon a cancelled
      acquire; without it the attempt waits on in its thread and what it
      takes is released);
    * ``watch_lease(name, owner, notify)``: the backend calls
      ``notify(reason)`` (quickly, it must not block) when it learns,
      between renewals, that the lease is lost or in doubt (ZooKeeper's
      connection states); a backend with ``reports_doubt = True`` also
      takes ``in_doubt=`` and calls ``in_doubt(reason)`` when the lease
      may or may not run (the holder must not act), ``in_doubt(None)``
      once it surely runs again;
    * ``acquire_async``, ``release_async``, ``is_locked_async``: asyncio
      versions that block no thread (Redis).
    """

    url: str
    expires: bool

    def acquire(self, name: str, owner: str, ttl: float, timeout: float | None) -> int | None:
        """Take the lock *name* for *owner*; return its fencing token, or None on timeout.

        Waits at most *timeout* seconds (``None``: for ever; ``0``: one try)
        and serves waiters roughly in arrival order. The token is an integer
        greater than every token issued before for *name* (for as long as
        the server's data allows: each backend documents when).
        Raises :class:`~accord.core.errors.LockBackendError` if the server
        fails; a failed acquire holds nothing (what it may have taken is
        released, or ends by itself within *ttl*).
        """

    def release(self, name: str, owner: str) -> bool:
        """Free the lock if *owner* holds it and wake the next waiter.

        Returns False (and changes nothing) when *owner* does not hold it.
        """

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Extend *owner*'s lease to *ttl* seconds from now; False if it no longer holds it.

        Backends whose leases do not expire only check that *owner* still holds it.
        """

    def is_locked(self, name: str) -> bool:
        """True when anyone holds *name* right now."""

    def close(self) -> None:
        """Free connections and files; the backend is not used afterwards."""


@runtime_checkable
class OwnerAwareBackend(LockBackend, Protocol):
    """A backend whose acquisitions are addressed by owner, from any process.

    On top of :class:`LockBackend`:

    * ``acquire(name, owner, ...)`` when *owner* already holds *name* (say,
      from another process) extends the lease to ``ttl`` and returns the
      current token: it adopts the acquisition instead of waiting for itself;
    * ``release`` and ``renew`` by *owner* work from any process;
    * :meth:`holder` says who holds a lock;
    * :meth:`take_over` passes a lease from one owner to another, atomically,
      with a new (greater) token.

    :class:`~accord.core.lock.Lock` makes every owner unique, so none of this
    changes how a ``Lock`` behaves.
    """

    def holder(self, name: str) -> tuple[str, int] | None:
        """The owner holding *name* and its fencing token, or None when free.

        Raises :class:`~accord.core.errors.LockBackendError` if the server fails.
        """

    def take_over(self, name: str, owner: str, new_owner: str, ttl: float) -> int | None:
        """If *owner* holds *name*, make *new_owner* the holder for *ttl* seconds.

        Returns the new holder's fencing token, greater than *owner*'s, or
        None (nothing changed) when *owner* does not hold *name*. No other
        owner can take the lock in between. Works from any process. A
        backend that cannot do it in one step (ZooKeeper) may find that
        *owner* released meanwhile: if *new_owner* then holds the free lock,
        it returns that token; it never returns None once a reader could have
        seen *new_owner* as the holder.
        Raises :class:`~accord.core.errors.LockBackendError` if the server fails.
        """


def _scheme_of(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(
            f"lock URL {_redact(url)!r} is invalid: expected a non-empty string such as "
            "'redis://host:6379/0', 'zookeeper://host:2181/chroot', 'file:///var/lock/app' "
            "or 'memory://'."
        )
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        raise ConfigurationError(
            f"lock URL {_redact(url)!r} has no scheme: expected '<scheme>://...', "
            f"with a scheme among {', '.join(BUILTIN_SCHEMES)} or one a plugin provides."
        )
    return scheme.lower()


_cache: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_cache_lock = threading.Lock()


def backend_options(
    options: Mapping[str, Any] | None, keywords: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """One mapping of backend options from ``options=`` and the deprecated keywords.

    Backend options are one mapping everywhere: ``Lock(options=...)``,
    ``get_backend(url, options)``, ``singleton_task(lock_options=...)``.
    Options passed as keywords still work and warn (``DeprecationWarning``).

    :raises ConfigurationError: *options* is not a mapping with string keys,
        or an option is given both ways.
    """
    if options is None:
        merged: dict[str, Any] = {}
    elif isinstance(options, Mapping) and all(isinstance(k, str) for k in options):
        merged = dict(options)
    else:
        raise ConfigurationError(
            f"{where}: options of type {type(options).__name__} is invalid: "
            "expected a dict of backend "
            "options with string keys, e.g. {'session_timeout': 10}."
        )
    if keywords:
        names = ", ".join(sorted(keywords))
        warnings.warn(
            f"{where}: backend options as keywords ({names}) are deprecated: pass them as "
            f"one mapping, options={{{', '.join(repr(k) + ': ...' for k in sorted(keywords))}}}.",
            DeprecationWarning,
            stacklevel=3,
        )
        both = sorted(set(keywords) & set(merged))
        if both:
            raise ConfigurationError(
                f"{where}: backend options {both} are given both in options= and as keywords; "
                "give each once, in options=."
            )
        merged.update(keywords)
    return merged


def get_backend(url: str, options: Mapping[str, Any] | None = None, **keywords: Any) -> LockBackend:
    """Return the process's backend for *url* and *options*, made on first use.

    *options* is the mapping of backend options (see each backend); passing
    them as keywords is deprecated and warns.

    Asks the ``accord_lock_backend`` provider hook (plugins first, built-ins
    last). Backends are cached per URL and options, and per process: a child
    made by ``fork`` makes its own on first use (its parent's are left alone).

    :raises ConfigurationError: *url* is malformed or an option is invalid.
    :raises UnknownProviderError: no plugin serves the URL's scheme.
    :raises MissingDependency: the backend's optional package is not installed.
    """
    from accord.core.plugins import get_plugin_manager

    options = backend_options(options, keywords, "get_backend")
    scheme = _scheme_of(url)
    key = (url, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _cache_lock:
        backend = _cache.get(key)
        if backend is not None:
            return backend  # type: ignore[no-any-return]
        manager = get_plugin_manager()
        backend = manager.hook.accord_lock_backend(scheme=scheme, url=url, options=options)
        if backend is None:
            failed = ", ".join(sorted(manager.failed_plugins))
            hint = f" Plugins that failed to load: {failed}." if failed else ""
            raise UnknownProviderError(
                f"no lock backend serves the scheme {scheme!r} of {_redact(url)!r}. "
                f"Built-in schemes: {', '.join(BUILTIN_SCHEMES)}; install or register a "
                f"plugin that implements accord_lock_backend for others.{hint}"
            )
        _cache[key] = backend
        return backend  # type: ignore[no-any-return]


def _forget_backends_in_child() -> None:
    # A forked child must not use its parent's connections (a ZooKeeper
    # session, a socket mid-reply); closing them would end the parent's
    # sessions, so the child drops them and makes its own on first use.
    global _cache_lock
    _cache.clear()
    _cache_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_backends_in_child)


def clear_backend_cache() -> None:
    """Close and forget every cached backend (for tests, and after ``fork``)."""
    with _cache_lock:
        backends = list(_cache.values())
        _cache.clear()
    for backend in backends:
        backend.close()


def option(
    options: Mapping[str, Any], name: str, kind: type, default: Any, *, positive: bool = False
) -> Any:
    """Read backend option *name* (a URL's string is converted); ConfigurationError if bad."""
    value = options.get(name, default)
    if kind in (int, float):
        return number(
            value,
            f"lock backend option {name}",
            integer=kind is int,
            convert=True,
            minimum=0 if positive else None,
            above=positive,
        )
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"lock backend option {name}={value!r} is invalid: expected {kind.__name__}."
        ) from None


def __getattr__(name: str) -> object:
    return moved_redact(__name__, name)
