"""accord's Django models: the two-phase-commit decision log, and the operations pages' permission.

Failure behaviour first: nothing here raises by itself; missing tables
(the migrations not applied on the decision-log database) make
``tpc.atomic`` refuse to start, naming the migration to run, and the system
check ``accord.W102`` reports them.
"""

from __future__ import annotations

from django.db import models

__all__ = ["Decision", "DecisionLogState", "Operations", "Sighting"]


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
    # Unix time: portable across the supported databases; the purge scans it.
    created: models.FloatField[float, float] = models.FloatField(db_index=True)
    # "coordinator", "recovery" (a fence) or "operator" (heuristic); NULL from older
    # versions means "coordinator" (nullable so that they can still insert).
    source: models.CharField[str | None, str | None] = models.CharField(
        max_length=16, null=True, blank=True
    )

    class Meta:
        db_table = "accord_tpc_decision"
        verbose_name = "two-phase commit decision"

    def __str__(self) -> str:
        return f"{self.xid}: {self.decision}"


class DecisionLogState(models.Model):
    """The decision log's one row: its identity and its purge horizon (see ``sqllog``)."""

    id: models.IntegerField[int, int] = models.IntegerField(primary_key=True)  # always 1
    identity: models.CharField[str, str] = models.CharField(max_length=16)
    purged_before: models.FloatField[float, float] = models.FloatField(default=0.0)

    class Meta:
        db_table = "accord_tpc_log"
        verbose_name = "two-phase commit decision log"

    def __str__(self) -> str:
        return f"decision log {self.identity}"


class Sighting(models.Model):
    """When recovery first saw an undecided MySQL branch prepared (MySQL keeps no prepare time)."""

    xid: models.CharField[str, str] = models.CharField(max_length=64, primary_key=True)
    seen: models.FloatField[float, float] = models.FloatField()

    class Meta:
        db_table = "accord_tpc_sighting"
        verbose_name = "two-phase commit sighting"

    def __str__(self) -> str:
        return f"{self.xid}: seen at {self.seen}"


class Operations(models.Model):
    """No table: the holder of the permission to see and use accord's admin operations pages.

    Grant ``accord.operate`` (shown as "Can see and operate accord's
    operations pages") to the staff who may; being staff is not enough.
    """

    class Meta:
        managed = False
        db_table = "accord_operations"  # never created; set so no connection is asked for it
        default_permissions = ()
        permissions = (("operate", "Can see and operate accord's operations pages"),)
        verbose_name = "operations"
        verbose_name_plural = "operations"
