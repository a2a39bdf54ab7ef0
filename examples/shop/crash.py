"""Place one order and die by SIGKILL at a named two-phase-commit step.

``python -m examples.shop.crash <order-number> <step>``, e.g. step
``after-prepare-1`` (the ledger is prepared, nothing is decided) or
``after-decision`` (the commit decision is durable, the ledger not yet
committed). The global xid is printed first, so the caller can ask
``tpc.outcome(xid)`` later. This is the demo's stand-in for a power cut.
"""

from __future__ import annotations

import os
import signal
import sys

import django


def main(number: str, step: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.shop.settings")
    django.setup()
    from accord.core.tpc.coordinator import add_step_listener
    from examples.shop.orders import place_order

    def die_at(name: str, xid: object) -> None:
        if name == step:
            print(f"XID {xid}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    add_step_listener(die_at)
    place_order(number, account_id=7, total_cents=4200)
    print("the order committed: the step was never reached", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
