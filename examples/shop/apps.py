"""The shop's Django app; ``ready()`` attaches the event-counting plugin."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "examples.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accord.core.plugins import get_plugin_manager
        from examples.shop import plugin

        manager = get_plugin_manager()
        # ready() can run twice in one process (tests call django.setup()
        # again); registering the same plugin twice would be an error.
        if not manager.is_registered(plugin):
            manager.register(plugin, name=plugin.NAME)
