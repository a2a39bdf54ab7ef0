"""A Django process for the two-phase-commit tests: ``python worker.py <scenario> '<json kwargs>'``.

The configuration comes from the environment variable ``ACCORD_TPC_TEST``
(JSON: ``databases``, ``tpc`` settings, ``setup``, ``crash_at``). With
``crash_at`` the process SIGKILLs itself at that coordinator step. The
scenario's result is printed as ``RESULT <json>`` on the last line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[2])]

import django  # noqa: E402
from django.conf import settings  # noqa: E402

CONFIG = json.loads(os.environ["ACCORD_TPC_TEST"])


def configure() -> None:
    settings.configure(
        DATABASES=CONFIG["databases"],
        INSTALLED_APPS=["accord.contrib.django", "tpc_testapp"],
        # "tpc": null stands for a project that does not configure 2PC at all;
        # "accord" replaces the whole ACCORD setting (to try malformed ones).
        ACCORD=CONFIG["accord"]
        if "accord" in CONFIG
        else {}
        if CONFIG.get("tpc", {}) is None
        else {"TPC": CONFIG.get("tpc", {})},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


def setup_databases() -> None:
    from django.core.management import call_command
    from django.db import connections
    from tpc_testapp.models import Account, Child, Item

    seen = set()
    for alias, entry in CONFIG["databases"].items():
        where = (entry.get("HOST"), entry.get("PORT"), entry["NAME"])
        if where in seen or entry["ENGINE"].endswith("sqlite3"):
            continue
        seen.add(where)
        call_command("migrate", "accord", database=alias, verbosity=0)
        with connections[alias].schema_editor() as editor:
            for model in (Item, Child, Account):
                editor.create_model(model)


def stop_at(step: str, sig: signal.Signals) -> None:
    """SIGKILL (crash) or SIGSTOP (pause) this process at coordinator step *step*."""
    from accord.core.tpc.coordinator import add_step_listener

    def listener(name: str, xid: object) -> None:
        if name == step:
            sys.stdout.flush()
            os.kill(os.getpid(), sig)

    add_step_listener(listener)


def main() -> None:
    configure()
    if CONFIG.get("setup"):
        setup_databases()
    if CONFIG.get("crash_at"):
        stop_at(CONFIG["crash_at"], signal.SIGKILL)
    if CONFIG.get("pause_at"):
        stop_at(CONFIG["pause_at"], signal.SIGSTOP)
    import scenarios
    import scenarios_faults
    import scenarios_metrics
    import scenarios_ops

    name, kwargs = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    modules = (scenarios, scenarios_ops, scenarios_faults, scenarios_metrics)
    module = next(m for m in modules if hasattr(m, name))
    result = getattr(module, name)(**kwargs)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
