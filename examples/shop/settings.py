"""Django settings of the example shop, every address taken from the environment.

==========================  =============================================  ====================
variable                    default                                        what
==========================  =============================================  ====================
``SHOP_CACHE_NODES``        ``redis://127.0.0.1:6379/0``, ``:6380/0``,     RingCache nodes
                            ``:6381/0``, separated by ``;``
``SHOP_CACHE_RETRY_AFTER``  ``30``                                         seconds a dead cache
                                                                           node stays out
``SHOP_ORDERS_DB``          ``postgresql://postgres@127.0.0.1/shop_orders``  orders ("default")
``SHOP_LEDGER_DB``          ``postgresql://postgres@127.0.0.1/shop_ledger``  ledger ("ledger")
``SHOP_RECOVERY_DELAY``     ``60``                                         2PC RECOVERY_DELAY
``SHOP_BROKER_URL``         ``amqp://guest:guest@127.0.0.1:5672//``        Celery broker
``SHOP_TASK_QUEUE``         ``shop``                                       the tasks' queue
``SHOP_RESULT_BACKEND``     ``redis://127.0.0.1:6379/2``                   Celery results
``SHOP_LOCK_URL``           ``redis://127.0.0.1:6379/1``                   singleton-task locks
``SHOP_LOG_LEVEL``          ``ERROR``                                      accord's log level
==========================  =============================================  ====================

Database URLs are ``postgresql://user[:password]@host[:port]/name`` or
``mysql://...`` (MariaDB works as the ledger too).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

_ENGINES = {"postgresql": "django.db.backends.postgresql", "mysql": "django.db.backends.mysql"}


def env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def database(url: str) -> dict[str, Any]:
    """A ``DATABASES`` entry from a URL (a tiny dj-database-url, to need no extra package)."""
    parts = urlsplit(url)
    return {
        "ENGINE": _ENGINES[parts.scheme],
        "NAME": unquote(parts.path.lstrip("/")),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or ""),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
    }


SECRET_KEY = "example-shop-not-secret"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["accord.contrib.django", "examples.shop"]

# --- the cache: one RingCache over three Redis nodes ------------------------
CACHES = {
    "default": {
        "BACKEND": "accord.contrib.django.cache.RingCache",
        "LOCATION": env(
            "SHOP_CACHE_NODES",
            "redis://127.0.0.1:6379/0;redis://127.0.0.1:6380/0;redis://127.0.0.1:6381/0",
        ),
        "OPTIONS": {
            # A dead node's keys go to the next node of their preference list
            # instead of raising: a cache outage must not become a shop outage.
            "failover": "eject",
            "failure_threshold": 3,
            "retry_after": float(env("SHOP_CACHE_RETRY_AFTER", "30")),
        },
    }
}

# --- two databases, written together by tpc.atomic --------------------------
DATABASES = {
    "default": database(env("SHOP_ORDERS_DB", "postgresql://postgres@127.0.0.1:5432/shop_orders")),
    "ledger": database(env("SHOP_LEDGER_DB", "postgresql://postgres@127.0.0.1:5432/shop_ledger")),
}
DATABASE_ROUTERS = ["examples.shop.routers.LedgerRouter"]
ACCORD = {
    "TPC": {
        "NODE": "shop",
        # The decision log lives in "default", the orders database: it then
        # commits last instead of being prepared, which saves one fsync.
        "DECISION_LOG": "default",
        "RECOVERY_DELAY": float(env("SHOP_RECOVERY_DELAY", "60")),
    }
}

# --- Celery (read by examples.shop.celery_app with namespace "CELERY") ------
CELERY_BROKER_URL = env("SHOP_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_RESULT_BACKEND = env("SHOP_RESULT_BACKEND", "redis://127.0.0.1:6379/2")
CELERY_ACCORD_LOCK_URL = env("SHOP_LOCK_URL", "redis://127.0.0.1:6379/1")
CELERY_TASK_DEFAULT_QUEUE = env("SHOP_TASK_QUEUE", "shop")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # The demo narrates failover itself; accord's warnings would repeat it.
    "loggers": {"accord": {"handlers": ["console"], "level": env("SHOP_LOG_LEVEL", "ERROR")}},
}
