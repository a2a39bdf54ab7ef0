"""Part 3: orders written to two databases by ``tpc.atomic``; a coordinator killed between
prepare and commit, twice; recovery; both databases agree."""

from __future__ import annotations

import subprocess
import sys

from django.core.management import call_command
from django.db import connections

from accord.contrib.django import tpc
from examples.demo.narrate import countdown, progress, say
from examples.demo.services import ROOT
from examples.shop import plugin
from examples.shop.orders import consistency, place_order

ORDERS = 20


def _prepared(alias: str) -> int:
    """accord's transactions left prepared (in doubt) in database *alias*."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_xacts "
            "WHERE database = current_database() AND gid LIKE 'accord:%'"
        )
        return int(cursor.fetchone()[0])


def _state(label: str) -> None:
    orders, entries = consistency()
    agree = "they agree" if orders == entries else "THEY DISAGREE"
    say(
        f"   {label}: {len(orders)} orders, {len(entries)} ledger entries ({agree}); "
        f"in doubt: {_prepared('default')} in orders, {_prepared('ledger')} in the ledger"
    )


def _crash(number: str, step: str) -> str:
    """Place order *number* in a child process that SIGKILLs itself at *step*; its xid."""
    proc = subprocess.run(
        [sys.executable, "-m", "examples.shop.crash", number, step],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != -9 or not proc.stdout.startswith("XID "):
        raise RuntimeError(f"the coordinator was meant to die at {step}: {proc.stderr[-2000:]}")
    return proc.stdout.split()[1]


def _recover() -> None:
    report = tpc.recover()
    for item in report.resolutions:
        say(f"     recovery: {item.action} the branch on {item.alias!r} ({item.reason})")
    if not report.resolutions:
        say("     recovery: nothing to do")


def run(databases: list[str], recovery_delay: float) -> None:
    say(f"   Two PostgreSQL databases: orders in {databases[0]!r} (alias 'default'),")
    say(f"   the ledger in {databases[1]!r} (alias 'ledger'); migrated now.")
    for alias in ("default", "ledger"):
        call_command("migrate", database=alias, verbosity=0)
    say("   place_order() writes an Order and a LedgerEntry inside")
    say("   `with tpc.atomic('default', 'ledger')`: both commit or neither does.")
    for i in progress(range(1, ORDERS + 1), ORDERS, "orders placed"):
        place_order(f"A-{i:03d}", account_id=i % 5, total_cents=1000 + i)
    _state("now")

    say()
    say("   A coordinator killed AFTER PREPARE, BEFORE THE DECISION (SIGKILL at step")
    say("   'after-prepare-1': the ledger's branch is prepared, nothing is decided):")
    xid = _crash("A-901", "after-prepare-1")
    _state("after the kill")
    say("   ('default' was never prepared: its server rolled it back when the connection died.)")
    say(f"   tpc.outcome({xid[:24]}...) -> {tpc.outcome(xid)!r}")
    say("   Recovery leaves an undecided transaction alone for RECOVERY_DELAY")
    say(f"   ({recovery_delay:.0f} s here, 60 by default): its coordinator might only be slow.")
    _recover()
    countdown(recovery_delay, "RECOVERY_DELAY, after which recovery may decide")
    _recover()
    say("   With no commit decision on record, recovery fenced the transaction with an")
    say("   abort (presumed abort) and rolled the prepared branch back.")
    _state("after recovery")
    say(f"   tpc.outcome(...) -> {tpc.outcome(xid)!r}")

    say()
    say("   A coordinator killed AFTER THE DECISION, BEFORE THE LEDGER COMMITTED (step")
    say("   'after-decision': the order and the commit record are committed in 'default'):")
    xid = _crash("A-902", "after-decision")
    _state("after the kill")
    say(f"   tpc.outcome(...) -> {tpc.outcome(xid)!r}: the decision is durable.")
    _recover()
    _state("after recovery")
    orders, entries = consistency()
    verdict = "agree" if orders == entries and "A-902" in entries else "DO NOT AGREE"
    say(f"   Both databases {verdict}: every order has its ledger entry, and no more.")
    events = plugin.snapshot()
    seen = {k: v for k, v in events.items() if "2PC" in k or "in-doubt" in k}
    say(f"   The shop's event-counter plugin saw: {seen}")
