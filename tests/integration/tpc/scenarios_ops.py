"""Scenarios for operators: management commands as a shell runs them, observers, reports."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from django.core.management import execute_from_command_line
from django.db import connections


def manage(argv: list[str]) -> dict[str, Any]:
    """``manage.py <argv>`` as a shell runs it (system checks included); exit status and output."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            execute_from_command_line(["manage.py", *argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return {"exit": code, "output": out.getvalue(), "errors": err.getvalue()}


def table_exists(alias: str, table: str) -> dict[str, Any]:
    return {"exists": table in connections[alias].introspection.table_names()}


def observed(scenario: str, **kwargs: Any) -> dict[str, Any]:
    """Run another scenario with an ``accord_tpc_outcome`` observer; what it saw."""
    import scenarios
    import scenarios_faults

    from accord import hookimpl
    from accord.core.plugins import get_plugin_manager

    seen: list[dict[str, Any]] = []

    class Observer:
        @hookimpl
        def accord_tpc_outcome(
            self, xid: str, outcome: str, participants: list[str], pending: list[str]
        ) -> None:
            seen.append(
                {"xid": xid, "outcome": outcome, "participants": participants, "pending": pending}
            )

    get_plugin_manager().register(Observer(), "observer")
    module = scenarios if hasattr(scenarios, scenario) else scenarios_faults
    result = getattr(module, scenario)(**kwargs)
    return {"result": result, "seen": seen}
