"""Tables the two-phase-commit tests write to."""

from __future__ import annotations

from django.db import models


class Item(models.Model):
    id = models.IntegerField(primary_key=True)
    value = models.IntegerField(default=0)

    class Meta:
        app_label = "tpc_testapp"


class Child(models.Model):
    """On PostgreSQL its foreign key is checked at the end (deferred): at PREPARE."""

    id = models.IntegerField(primary_key=True)
    parent = models.ForeignKey(Item, on_delete=models.CASCADE, db_constraint=True)

    class Meta:
        app_label = "tpc_testapp"


class Account(models.Model):
    id = models.IntegerField(primary_key=True)
    balance = models.BigIntegerField()

    class Meta:
        app_label = "tpc_testapp"
