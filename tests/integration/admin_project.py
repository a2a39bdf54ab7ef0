"""The Django settings every admin-serving test project shares (admin site, secrets probe)."""

from __future__ import annotations

from typing import Any

ADMIN_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]


def admin_settings(*, csrf: bool = True) -> dict[str, Any]:
    """``MIDDLEWARE`` and ``TEMPLATES`` for a project that serves the Django admin."""
    middleware = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        *(["django.middleware.csrf.CsrfViewMiddleware"] if csrf else []),
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    templates = [
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
    return {"MIDDLEWARE": middleware, "TEMPLATES": templates}
