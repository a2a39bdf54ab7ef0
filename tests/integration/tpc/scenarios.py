"""What the two-phase-commit test processes do; each returns JSON-able data."""

from __future__ import annotations

import random
import time
from typing import Any

from django.db import connections, transaction
from django.db.models import F
from tpc_testapp.models import Account, Child, Item

from accord.contrib.django import tpc
from accord.core.errors import AccordError

PAIR = ["default", "ledger"]


def _error(exc: BaseException) -> dict[str, Any]:
    found = {"error": type(exc).__name__, "message": str(exc)}
    if exc.__cause__ is not None:  # accord's errors chain the driver's
        found["cause"] = type(exc.__cause__).__name__
    return found


def write(item_id: int, aliases: list[str] = PAIR, value: int = 1) -> dict[str, Any]:
    block = tpc.atomic(*aliases)
    with block:
        for alias in aliases:
            Item.objects.using(alias).create(id=item_id, value=value)
    assert block.result is not None
    return {"xid": str(block.result.xid), "outcome": block.result.outcome}


def write_expecting_error(item_id: int, aliases: list[str] = PAIR) -> dict[str, Any]:
    try:
        return write(item_id, aliases)
    except AccordError as exc:
        return {**_error(exc), "xid": getattr(exc, "xid", "")}


def write_some(item_id: int, writers: list[str], aliases: list[str] = PAIR) -> dict[str, Any]:
    block = tpc.atomic(*aliases)
    with block:
        for alias in aliases:
            Item.objects.using(alias).filter(id=-1).exists()  # a read on every alias
        for alias in writers:
            Item.objects.using(alias).create(id=item_id)
    assert block.result is not None
    return {"outcome": block.result.outcome}


def fail_in_block(item_id: int, aliases: list[str] = PAIR) -> dict[str, Any]:
    try:
        with tpc.atomic(*aliases):
            for alias in aliases:
                Item.objects.using(alias).create(id=item_id)
            raise RuntimeError("boom")
    except RuntimeError as exc:
        return _error(exc)
    return {}


def on_commit_order(item_id: int) -> list[Any]:
    events: list[Any] = []

    def seen_from(alias: str, other: str) -> None:
        events.append([alias, Item.objects.using(other).filter(id=item_id).exists()])

    with tpc.atomic(*PAIR):
        Item.objects.using("default").create(id=item_id)
        transaction.on_commit(lambda: seen_from("default", "ledger"), using="default")
        Item.objects.using("ledger").create(id=item_id)
        transaction.on_commit(lambda: seen_from("ledger", "default"), using="ledger")
        events.append("block end")
    return events


def on_commit_rolled_back(item_id: int) -> list[str]:
    events: list[str] = []
    try:
        with tpc.atomic(*PAIR):
            Item.objects.using("default").create(id=item_id)
            transaction.on_commit(lambda: events.append("ran"), using="default")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    return events


def nested_savepoint(item_id: int) -> dict[str, Any]:
    with tpc.atomic(*PAIR):
        Item.objects.using("default").create(id=item_id)
        try:
            with transaction.atomic(using="ledger"):
                Item.objects.using("ledger").create(id=item_id + 1)
                raise RuntimeError("undo the inner block only")
        except RuntimeError:
            pass
        Item.objects.using("ledger").create(id=item_id)
    return {alias: sorted(Item.objects.using(alias).values_list("id", flat=True)) for alias in PAIR}


def inside_atomic() -> dict[str, Any]:
    with transaction.atomic(using="ledger"):
        try:
            with tpc.atomic(*PAIR):
                Item.objects.using("default").create(id=1)
        except AccordError as exc:
            return {**_error(exc), "written": Item.objects.using("default").count()}
    return {}


def bad_aliases(aliases: list[str]) -> dict[str, Any]:
    try:
        with tpc.atomic(*aliases):
            Item.objects.using("default").create(id=1)
    except AccordError as exc:
        return {**_error(exc), "valueerror": isinstance(exc, ValueError)}
    return {}


def deferred_fk_violation(alias: str) -> dict[str, Any]:
    """The foreign key is checked at PREPARE (ledger) or at the last resource's COMMIT."""
    try:
        with tpc.atomic(*PAIR):
            for each in PAIR:
                Item.objects.using(each).create(id=1)
            Child.objects.using(alias).create(id=1, parent_id=999)
    except Exception as exc:
        return _error(exc)
    return {}


def isolation_in_block(aliases: list[str] = PAIR) -> dict[str, Any]:
    """The isolation level and access mode each branch's transaction runs with."""
    seen = {}
    with tpc.atomic(*aliases):
        for alias in aliases:
            Item.objects.using(alias).create(id=1)
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT current_setting('transaction_isolation')")
                seen[alias] = cursor.fetchone()[0]
    return seen


def deferred_unique_violation() -> dict[str, Any]:
    """A deferred unique constraint fails at the last resource's COMMIT (the decision's insert
    is committed in the same round trip): PrepareFailed (IntegrityError its cause), no fence."""
    try:
        with tpc.atomic(*PAIR):
            for each in PAIR:
                Item.objects.using(each).create(id=1)
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "CREATE TEMPORARY TABLE pending (k INT UNIQUE DEFERRABLE INITIALLY DEFERRED) "
                    "ON COMMIT DROP"
                )
                cursor.execute("INSERT INTO pending VALUES (1), (1)")
    except Exception as exc:
        return _error(exc)
    return {}


def decorator(ids: list[int]) -> dict[str, Any]:
    @tpc.atomic(*PAIR)
    def create(item_id: int) -> None:
        for alias in PAIR:
            Item.objects.using(alias).create(id=item_id)

    for item_id in ids:
        create(item_id)
    return {alias: Item.objects.using(alias).count() for alias in PAIR}


def outcomes_observed(item_id: int) -> list[Any]:
    from accord import hookimpl
    from accord.core.plugins import get_plugin_manager

    seen: list[Any] = []

    class Observer:
        @hookimpl
        def accord_tpc_outcome(self, xid: str, outcome: str, participants: list[str]) -> None:
            seen.append([outcome, participants])

    get_plugin_manager().register(Observer(), "observer")
    write(item_id)
    write_some(item_id + 1, ["default"])
    return seen


def recover(dry_run: bool = False) -> dict[str, Any]:
    report = tpc.recover(dry_run=dry_run)
    return {
        "locked_out": report.locked_out,
        "unreachable": report.unreachable,
        "purged": report.purged,
        "foreign": getattr(report, "foreign", 0),
        "resolutions": [
            {"action": r.action, "alias": r.alias, "gid": r.gid, "reason": r.reason, "xid": r.xid}
            for r in report.resolutions
        ],
    }


def outcome(xid: str) -> dict[str, Any]:
    try:
        return {"outcome": tpc.outcome(xid)}
    except AccordError as exc:
        return _error(exc)


def management_command(dry_run: bool) -> dict[str, Any]:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    try:
        call_command("accord_recover", *(["--dry-run"] if dry_run else []), stdout=out)
    except CommandError as exc:
        return {"output": out.getvalue(), "error": str(exc)}
    return {"output": out.getvalue()}


def checks(prefixes: tuple[str, ...] = ("accord.E1",)) -> list[str]:
    from django.core import checks as django_checks

    messages = django_checks.run_checks(databases=list(connections))
    return [f"{m.id}: {m.msg}" for m in messages if (m.id or "").startswith(tuple(prefixes))]


def bank_accounts(aliases: list[str], count: int, balance: int) -> dict[str, Any]:
    for alias in aliases:
        Account.objects.using(alias).bulk_create(
            Account(id=n, balance=balance) for n in range(count)
        )
    return {}


def bank_worker(aliases: list[str], count: int, seconds: float, seed: int, plain: bool) -> dict:
    rng = random.Random(seed)
    done = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        a, b = rng.sample(aliases, 2)
        amount, src, dst = rng.randint(1, 9), rng.randrange(count), rng.randrange(count)
        try:
            if plain:  # the negative control: one commit after the other
                with transaction.atomic(using=a):
                    Account.objects.using(a).filter(id=src).update(balance=F("balance") - amount)
                with transaction.atomic(using=b):
                    Account.objects.using(b).filter(id=dst).update(balance=F("balance") + amount)
            else:
                with tpc.atomic(a, b):
                    Account.objects.using(a).filter(id=src).update(balance=F("balance") - amount)
                    Account.objects.using(b).filter(id=dst).update(balance=F("balance") + amount)
            done += 1
        except Exception:  # lock timeouts behind a dead worker's prepared branch
            failed += 1
            for alias in aliases:
                connections[alias].close()
    return {"done": done, "failed": failed}


def write_catching(item_id: int, aliases: list[str] = PAIR) -> dict[str, Any]:
    """:func:`write`, reporting any error (a driver's too) instead of failing the worker."""
    try:
        return write(item_id, aliases)
    except Exception as exc:
        return _error(exc)
