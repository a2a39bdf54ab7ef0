"""The Django application config for ``accord.contrib.django``."""

from __future__ import annotations

from django.apps import AppConfig


class AccordConfig(AppConfig):
    """accord's Django app: settings checks, the decision-log models, commands."""

    name = "accord.contrib.django"
    label = "accord"
    verbose_name = "accord"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register accord's system checks (importing the module registers them)."""
        from accord.contrib.django import checks  # noqa: F401
        from accord.contrib.django.tpc import checks as tpc_checks  # noqa: F401
