"""accord's Django models: the two-phase-commit decision log.

Failure behaviour first: nothing here raises by itself; a missing table
(the migration not applied on the decision-log database) makes
``tpc.atomic`` fail before committing anything, and the system check
``accord.E102`` reports it.
"""

from __future__ import annotations

from django.db import models

__all__ = ["Decision"]


class Decision(models.Model):
    """One decided global transaction (presumed abort: commit rows, and recovery's abort fences).

    Rows are written with plain SQL by :mod:`accord.core.tpc.sqllog`; the model
    exists for the migration and for reading (admin, shell).
    """

    xid: models.CharField[str, str] = models.CharField(max_length=64, primary_key=True)
    decision: models.CharField[str, str] = models.CharField(max_length=8)  # "commit" or "abort"
    participants: models.CharField[str, str] = models.CharField(
        max_length=1000, blank=True
    )  # aliases, comma-separated
    created: models.FloatField[float, float] = (
        models.FloatField()
    )  # Unix time: portable across the supported databases

    class Meta:
        db_table = "accord_tpc_decision"
        verbose_name = "two-phase commit decision"

    def __str__(self) -> str:
        return f"{self.xid}: {self.decision}"
