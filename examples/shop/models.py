"""Orders (database "default") and ledger entries (database "ledger")."""

from __future__ import annotations

from datetime import datetime

from django.db import models


class Order(models.Model):
    number: models.CharField[str, str] = models.CharField(max_length=32, unique=True)
    account_id: models.IntegerField[int, int] = models.IntegerField()
    total_cents: models.IntegerField[int, int] = models.IntegerField()
    created: models.DateTimeField[datetime, datetime] = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.number)


class LedgerEntry(models.Model):
    """The ledger's side of an order; lives in its own database, so no foreign key."""

    order_number: models.CharField[str, str] = models.CharField(max_length=32, unique=True)
    account_id: models.IntegerField[int, int] = models.IntegerField()
    amount_cents: models.IntegerField[int, int] = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.order_number}: {self.amount_cents}"
