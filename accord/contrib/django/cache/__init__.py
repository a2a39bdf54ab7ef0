"""A Django cache backend that spreads keys over several Redis servers.

Use ``"BACKEND": "accord.contrib.django.cache.RingCache"``; see
``docs/cache.rst`` for ``LOCATION`` and ``OPTIONS``. Importing this package
imports Django but not redis; redis is imported when a cache is built, and a
missing one raises :class:`~accord.core.errors.MissingDependency` naming the
``accord[redis]`` extra.
"""

from __future__ import annotations

from accord.contrib.django.cache.backend import RingCache

__all__ = ["RingCache"]
