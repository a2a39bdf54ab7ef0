"""A Django cache backend that spreads keys over several Redis servers, groups or a cluster.

Use ``"BACKEND": "accord.contrib.django.cache.RingCache"``; see
``docs/cache.rst`` for ``LOCATION`` and ``OPTIONS``. Importing this package
imports Django but not redis; redis is imported when a cache is built, and a
missing one raises :class:`~accord.core.errors.MissingDependency` naming the
``accord[redis]`` extra.

Modules, by what they hold: ``locations`` and ``options`` read the settings
into ``config``; ``router`` decides (a pure state machine over each node's
``health``) and ``plan`` is what it decides; ``calls`` turns each operation
into commands (``scripts`` holds the Lua); ``execute``
and ``aio`` send them (sync, async); ``connect`` makes redis-py
clients; ``codec`` makes values bytes; ``client`` and ``backend`` are what
Django calls; ``topology`` is the read-only view; ``stampede`` the locked
``get_or_set``.
"""

from __future__ import annotations

from accord.contrib.django.cache.backend import RingCache

__all__ = ["RingCache"]
