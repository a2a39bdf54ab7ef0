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
        """Register accord's system checks, and the plugins named in ``ACCORD["PLUGINS"]``."""
        from django.conf import settings

        from accord.contrib.django import checks  # noqa: F401
        from accord.contrib.django.tpc import checks as tpc_checks  # noqa: F401
        from accord.core.plugins import load_plugins

        accord = getattr(settings, "ACCORD", None)
        paths = accord.get("PLUGINS") if isinstance(accord, dict) else None
        if paths is not None:
            if isinstance(paths, str) or not isinstance(paths, (list, tuple)):
                from accord.core.errors import ConfigurationError

                raise ConfigurationError(
                    f'ACCORD["PLUGINS"] = {paths!r}: expected a list of dotted module paths, '
                    'e.g. ["accord.contrib.prometheus"].'
                )
            load_plugins(paths)
