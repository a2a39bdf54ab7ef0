"""Named steps of a global transaction, and listeners for them (fault-injection tests).

Failure behaviour first: a listener's exception propagates into the
coordinator or recovery step that called it (tests use that to stop a
process at a precise point; a listener must not raise otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

from accord.core.tpc.xid import Xid

__all__ = ["STEPS", "StepListener", "add_step_listener", "remove_step_listener", "step"]

#: The coordinator's steps, as passed to step listeners ("{n}" is 1-based).
#: Recovery adds "recovery-scanned", after it listed the in-doubt branches.
STEPS = (
    "before-prepare",
    "after-prepare-{n}",
    "after-decision",
    "after-commit-{n}",
    "before-forget",
)
StepListener = Callable[[str, Xid], None]
_step_listeners: list[StepListener] = []


def add_step_listener(listener: StepListener) -> None:
    """Call *listener(step, xid)* at every step of :data:`STEPS` (fault-injection tests)."""
    _step_listeners.append(listener)


def remove_step_listener(listener: StepListener) -> None:
    """Stop calling *listener*; raises ``ValueError`` if it was not added."""
    _step_listeners.remove(listener)


def step(name: str, xid: Xid) -> None:
    """Tell the step listeners that *name* was reached for *xid*."""
    if not _step_listeners:
        return
    for listener in list(_step_listeners):
        listener(name, xid)
