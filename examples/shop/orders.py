"""Placing an order: one row in the orders database, one in the ledger, atomically."""

from __future__ import annotations

from accord.contrib.django import tpc
from examples.shop.models import LedgerEntry, Order


@tpc.atomic("default", "ledger")
def place_order(number: str, account_id: int, total_cents: int) -> None:
    """Both rows commit, or neither does, whatever crashes when (given recovery)."""
    Order.objects.create(number=number, account_id=account_id, total_cents=total_cents)
    LedgerEntry.objects.create(order_number=number, account_id=account_id, amount_cents=total_cents)


def consistency() -> tuple[set[str], set[str]]:
    """The order numbers in each database (they should be the same set)."""
    orders = set(Order.objects.values_list("number", flat=True))
    entries = set(LedgerEntry.objects.values_list("order_number", flat=True))
    return orders, entries
