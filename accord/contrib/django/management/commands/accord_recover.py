"""``manage.py accord_recover``: resolve in-doubt two-phase-commit branches, and report them.

Failure behaviour first: exits with status 1 (``CommandError``) when an
operator should look: a database that could not be reached or scanned, a
branch the database refused to finish, a hazard (a branch ended outside
accord), a live session holding a decided branch long past the delay, a
refused heuristic decision, a decision log that cannot be reached
(:class:`~accord.core.errors.DecisionLogError`) or bad settings (its message,
with any password in a URL redacted, instead of a traceback). Transactions
still in flight (younger than ``RECOVERY_DELAY``) are reported and exit 0, and
so does a run that finds another worker of the same decision log holding the
lock (it does the work).

=============================  ====================================================
``accord_recover``             one recovery run (as ``tpc.recover()``)
``--dry-run``                  say what would be done; change nothing (not even a fence)
``--list``                     the in-doubt report: each transaction with its age,
                               branches, decision (and who made it), next step
``--watch [--interval S]``     run every S seconds (default 60) until stopped
                               (SIGTERM, SIGINT); ``--runs N`` stops after N runs
``--commit XID``               an operator's heuristic decision, recorded durably in
``--rollback XID``             the decision log first, then carried out; refused
                               while the log records the opposite decision; a commit
                               of an undecided transaction also needs ``--force``
=============================  ====================================================
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.contrib.django import tpc
from accord.contrib.django.tpc.config import get_settings
from accord.core.errors import ConfigurationError, DecisionConflict, DecisionLogError
from accord.core.tpc.contract import Decision
from accord.core.tpc.recovery import RecoveryReport
from accord.core.validate import number


class Command(BaseCommand):
    help = "Resolve, list or decide by hand this deployment's in-doubt 2PC transactions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would be done; change nothing (not even the fence).",
        )
        parser.add_argument(
            "--list", action="store_true", help="Print the in-doubt report; change nothing."
        )
        parser.add_argument(
            "--watch", action="store_true", help="Run again every --interval seconds."
        )
        parser.add_argument(
            "--interval", type=float, default=60.0, help="Seconds between runs (--watch)."
        )
        parser.add_argument(
            "--runs", type=int, default=0, help="Stop after this many runs (--watch; 0: never)."
        )
        decide = parser.add_mutually_exclusive_group()
        decide.add_argument("--commit", metavar="XID", help="Decide commit for XID by hand.")
        decide.add_argument("--rollback", metavar="XID", help="Decide rollback for XID by hand.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="With --commit: allow it for a transaction that recorded no decision.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        number(
            options["interval"],
            "--interval",
            minimum=0,
            above=True,
            unit="seconds",
            sep=" ",
            error=CommandError,
        )
        try:
            if options["commit"] or options["rollback"]:
                self._decide(options)
            elif options["list"]:
                self._list()
            elif options["watch"]:
                self._watch(options["interval"], options["runs"], options["dry_run"])
            elif self._run(options["dry_run"]):
                raise CommandError("an operator should look: see the lines above")
        except (ConfigurationError, DecisionLogError) as exc:  # a message, not a traceback
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc

    def _run(self, dry_run: bool) -> bool:
        """One recovery run, printed; whether an operator should look."""
        report = tpc.recover(dry_run=dry_run)
        self._print(report)
        return report.needs_attention(get_settings().recovery_delay)

    def _print(self, report: RecoveryReport) -> None:
        if report.locked_out:
            self.stdout.write(
                "another accord_recover of this decision log is running; nothing done"
            )
        for item in report.resolutions:
            self.stdout.write(
                f"{item.action}: {item.gid} on {item.alias!r} (age {item.age:.0f}s; {item.reason})"
            )
        for alias, why in report.unreachable.items():
            self.stderr.write(f"unreachable: {alias!r}: {why}")
        if not report.resolutions and not report.locked_out:
            self.stdout.write("no in-doubt transactions")
        if report.foreign:
            self.stdout.write(
                f"{report.foreign} prepared branch(es) of other deployments left alone"
            )
        if report.purged:
            self.stdout.write(f"purged {report.purged} old decision records")

    def _list(self) -> None:
        report = tpc.in_doubt()
        for item in report.transactions:
            decided = f"{item.decision} by {item.decided_by}" if item.decision else "undecided"
            self.stdout.write(f"{item.xid}  age {item.age:.0f}s  {decided}  next: {item.next_step}")
            if item.participants:
                self.stdout.write(f"  participants: {', '.join(item.participants)}")
            for alias, gid in item.branches:
                self.stdout.write(f"  prepared on {alias!r}: {gid}")
        for alias, why in report.unreachable.items():
            self.stderr.write(f"unreachable: {alias!r}: {why}")
        if not report.transactions:
            self.stdout.write("no in-doubt transactions")
        if report.unreachable:
            raise CommandError("some databases could not be scanned: the list may be incomplete")

    def _decide(self, options: dict[str, Any]) -> None:
        xid = options["commit"] or options["rollback"]
        decision: Decision = "commit" if options["commit"] else "abort"
        try:
            report = tpc.decide(xid, decision, force=options["force"])
        except DecisionConflict as exc:
            raise CommandError(str(exc)) from exc
        self._print(report)
        if report.needs_attention(0.0):
            raise CommandError("the decision is recorded; some branches are left to recovery")

    def _watch(self, interval: float, runs: int, dry_run: bool) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        done, attention = 0, False
        while not stop.is_set():
            started = time.monotonic()
            self.stdout.write(time.strftime("-- %Y-%m-%d %H:%M:%S recovery run"))
            try:
                attention = self._run(dry_run)
            except Exception as exc:  # the log is unreachable: say so, and keep watching
                self.stderr.write(f"recovery failed: {type(exc).__name__}: {exc}")
                attention = True
            done += 1
            if runs and done >= runs:
                break
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        if attention:
            raise CommandError("the last run needs an operator to look: see the lines above")
