"""Who holds a singleton key: a reservation waiting for a delivery, or one run.

Failure behaviour first: nothing here fails; an owner string that is not in
the form below (a lease taken by an accord release before runs had owners of
their own) reads as the reservation of that task id for its first delivery.

The lease is owned by a **run**, not by a task id. An owner string is
``<task id>|<kind>|<retries>|<nonce>``:

* ``reserved``: taken at enqueue (``retries`` 0) or handed on by a run that
  called ``retry()`` (``retries`` = the retry's number); the delivery with
  that task id and number takes it over;
* ``run``: one delivery of the task running in a pool process; the nonce is
  made per delivery, so two deliveries of one task id (a redelivery, a task
  id sent twice) are two owners, and the second cannot adopt the first's lease.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

__all__ = ["RESERVED", "RUN", "Owner"]

RESERVED = "reserved"
RUN = "run"
_FORM = re.compile(
    r"(?P<task_id>.*)\|(?P<kind>reserved|run)\|(?P<retries>\d+)\|(?P<nonce>[0-9a-f]+)"
)


def nonce() -> str:
    """A fresh run or reservation nonce."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class Owner:
    """One holder of a singleton key (see the module docstring)."""

    task_id: str
    kind: str
    retries: int
    nonce: str

    def __str__(self) -> str:
        return f"{self.task_id}|{self.kind}|{self.retries}|{self.nonce}"

    @classmethod
    def reservation(cls, task_id: str, retries: int = 0) -> Owner:
        """A reservation for the delivery of *task_id* numbered *retries*."""
        return cls(task_id, RESERVED, retries, nonce())

    @classmethod
    def run(cls, task_id: str, retries: int, run_nonce: str | None = None) -> Owner:
        """One run (delivery) of *task_id*; *run_nonce* made by the worker, or here."""
        return cls(task_id, RUN, retries, run_nonce or nonce())

    @classmethod
    def parse(cls, text: str) -> Owner:
        """The owner an owner string names; a bare task id is its first reservation."""
        found = _FORM.fullmatch(text)
        if found is None:
            return cls(text, RESERVED, 0, "")
        return cls(found["task_id"], found["kind"], int(found["retries"]), found["nonce"])
