"""Django settings for running ``manage.py`` commands against a RingCache in tests.

``ACCORD_RING_LOCATION`` holds the ``;``-separated node URLs.
"""

import os

SECRET_KEY = "accord-ring-tests"
INSTALLED_APPS = ["accord.contrib.django"]
CACHES = {
    "default": {
        "BACKEND": "accord.contrib.django.cache.RingCache",
        "LOCATION": os.environ.get("ACCORD_RING_LOCATION", "redis://127.0.0.1:1/0"),
    },
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
USE_TZ = True
