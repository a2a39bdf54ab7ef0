"""accord: coordination primitives for Django and Celery projects.

A consistent hash ring and a Django cache backend routed by it, a distributed
lock with fencing tokens and a Celery singleton-task decorator, and two-phase
commit across Django databases. The core (:mod:`accord.core`) never imports
Django or Celery; the adapters live in :mod:`accord.contrib`.
"""

from accord.core.errors import AccordError
from accord.core.hookspecs import hookimpl

__version__ = "0.1.0.dev0"

__all__ = ["AccordError", "__version__", "hookimpl"]
