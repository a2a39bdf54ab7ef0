"""The shop's Celery app: ``celery -A examples.shop.celery_app worker``.

Settings come from Django's, prefixed ``CELERY_`` (so the singleton tasks'
lock URL, Celery setting ``accord_lock_url``, is ``CELERY_ACCORD_LOCK_URL``).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["examples.shop"])
