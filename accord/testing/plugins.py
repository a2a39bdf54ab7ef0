"""Helpers for tests that register accord plugins."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from accord.core.plugins import get_plugin_manager
from accord.testing.errors import HarnessError


@contextmanager
def registered(plugin: object, name: str | None = None) -> Iterator[str]:
    """Register *plugin* with accord's plugin manager for the ``with`` block.

    Yields the name it was registered under and unregisters it on exit, also
    when the block raises.

    :raises accord.core.errors.PluginError: the plugin is invalid (see
        :func:`accord.core.plugins.get_plugin_manager`).
    """
    manager = get_plugin_manager()
    registered_name = manager.register(plugin, name)
    if registered_name is None:
        raise HarnessError(f"accord plugin {name or plugin!r} is blocked and was not registered")
    try:
        yield registered_name
    finally:
        manager.unregister(plugin)
