"""Shared test configuration: real-server fixtures from :mod:`accord.testing.pytest_plugin`.

``pytester`` is enabled for tests that run pytest on a generated test file.

The session fails when it leaves something behind (a process, a scratch
database, a broker queue): see :mod:`accord.testing.leftovers`.
"""

from __future__ import annotations

import pytest

from accord.testing import leftovers

pytest_plugins = ["accord.testing.pytest_plugin", "pytester"]

_before = leftovers.Snapshot()


def pytest_sessionstart(session: pytest.Session) -> None:
    global _before
    _before = leftovers.snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # pragma: no cover - an xdist worker
        return
    left = leftovers.left_behind(_before)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["the test session left behind:", *(f"  {item}" for item in left)]
        if reporter is not None:
            reporter.write_sep("=", "leftovers", red=True)
            for line in lines:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
