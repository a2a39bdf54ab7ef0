"""Phase two: commit the prepared branches once the decision is durable, only forward.

Failure behaviour first: :func:`commit_prepared` never raises for a branch.
A branch whose commit fails is retried on a new session (``reopen``: the
old session is ended first, which on MariaDB frees a branch its owner held)
until it is committed or ``timeout`` seconds have passed; one still not
committed is *pending* (recovery will commit it, the decision being durable),
logged at WARNING. A branch found gone is *unconfirmed*: committed by
recovery or by an earlier attempt whose reply was lost, or rolled back by
hand; accord cannot tell which, so it is logged and told to the
``accord_tpc_hazard`` observers.

The commits start on every database before any reply is awaited (see
:mod:`~accord.core.tpc.parallel`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from accord.core.plugins import notify
from accord.core.tpc.contract import BranchBusy, Participant
from accord.core.tpc.parallel import overlapped
from accord.core.tpc.steps import step
from accord.core.tpc.xid import BranchXid, Xid

__all__ = ["Reopen", "commit_prepared"]

logger = logging.getLogger("accord.tpc")

#: Gives a participant on a new session of the same database, the old one ended.
Reopen = Callable[[Participant], Participant]
_GONE = (
    "its prepared branch was gone before phase two could commit it: committed by "
    "recovery or by an attempt whose reply was lost, or rolled back by hand"
)


def commit_prepared(
    xid: Xid,
    branches: list[tuple[Participant, BranchXid]],
    reopen: Reopen | None,
    timeout: float,
) -> tuple[list[str], list[str]]:
    """Commit every branch; the aliases left pending, and those found gone (see the module)."""
    numbered = [(n, p, b) for n, (p, b) in enumerate(branches, 1)]

    def failed(n: int, participant: Participant, branch: BranchXid) -> str:
        logger.info("commit of %s on %r failed; retrying", branch.gid, participant.alias)
        state = _commit_anew(participant, branch, reopen, timeout)
        step(f"after-commit-{n}", xid)
        return state

    def start(item: tuple[int, Participant, BranchXid]) -> Callable[[], str] | None:
        n, participant, branch = item
        begin = getattr(participant, "start_commit_prepared", None)
        try:
            sent = begin(branch) if begin is not None else None
        except Exception:  # the decision is durable: only forward from here
            return lambda: failed(n, participant, branch)
        if sent is None:
            return None

        def finish() -> str:
            try:
                state = "committed" if sent() else "gone"
            except Exception:
                return failed(n, participant, branch)
            step(f"after-commit-{n}", xid)
            return state

        return finish

    def commit(item: tuple[int, Participant, BranchXid]) -> str:
        n, participant, branch = item
        try:
            done = participant.commit_prepared(branch)
        except Exception:
            return failed(n, participant, branch)
        step(f"after-commit-{n}", xid)
        return "committed" if done else "gone"

    outcomes = overlapped(numbered, start, commit)
    states = [(p.alias, state) for (p, _), state in zip(branches, outcomes, strict=True)]
    pending = [alias for alias, state in states if state not in ("committed", "gone")]
    gone = [alias for alias, state in states if state == "gone"]
    for alias in pending:
        logger.warning(
            "%s is committed, but its branch on %r could not be committed within %ss; "
            "recovery will commit it (until then its writes are invisible)",
            xid,
            alias,
            timeout,
        )
    for alias in gone:
        logger.warning("%s on %r: %s", xid, alias, _GONE)
        notify("accord_tpc_hazard", xid=str(xid), participant=alias, detail=_GONE)
    return pending, gone


def _commit_anew(
    participant: Participant, branch: BranchXid, reopen: Reopen | None, timeout: float
) -> str:
    """Commit *branch* from new sessions until done or *timeout*; its state."""
    if reopen is None:
        return "pending"
    deadline = time.monotonic() + timeout
    while True:
        fresh: Participant | None = None
        try:
            fresh = reopen(participant)
            return "committed" if fresh.commit_prepared(branch) else "gone"
        except BranchBusy:
            pass  # MariaDB has not yet noticed the old session is gone
        except Exception:
            logger.debug("retry of %s on %r failed", branch.gid, participant.alias)
        finally:
            if fresh is not None:
                fresh.connection.close()
        if time.monotonic() >= deadline:
            return "pending"
        time.sleep(0.1)
