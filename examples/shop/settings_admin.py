"""The shop's settings with Django's admin and accord's operations pages (docs/operations.rst).

``DJANGO_SETTINGS_MODULE=examples.shop.settings_admin python -m examples.shop.manage runserver``
then http://127.0.0.1:8000/admin/accord/operations/ for a superuser, or a staff
user granted "Can see and operate accord's operations pages".
"""

from __future__ import annotations

from examples.shop.settings import *  # noqa: F403
from examples.shop.settings import ACCORD, CELERY_ACCORD_LOCK_URL, INSTALLED_APPS

DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *INSTALLED_APPS,
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "examples.shop.urls"
STATIC_URL = "/static/"
ACCORD = {**ACCORD, "ADMIN_LOCK_URLS": [CELERY_ACCORD_LOCK_URL]}
