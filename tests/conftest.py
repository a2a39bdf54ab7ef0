"""Shared test configuration: real-server fixtures from :mod:`accord.testing.pytest_plugin`.

``pytester`` is enabled for tests that run pytest on a generated test file.
"""

pytest_plugins = ["accord.testing.pytest_plugin", "pytester"]
