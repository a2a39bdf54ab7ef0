"""``manage.py accord_recover [--dry-run]``: resolve in-doubt two-phase-commit branches.

Failure behaviour first: exits with status 1 (``CommandError``) when a
branch is left unresolved or a database is unreachable, so cron and
monitoring notice; exits 0 when everything found was resolved, or when
another recovery worker holds the lock (it does the work).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accord.contrib.django import tpc


class Command(BaseCommand):
    help = "Commit or roll back the prepared branches of this deployment's 2PC transactions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would be done; change nothing (not even the fence).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = tpc.recover(dry_run=options["dry_run"])
        if report.locked_out:
            self.stdout.write("another accord_recover is running; nothing done")
            return
        for item in report.resolutions:
            self.stdout.write(
                f"{item.action}: {item.gid} on {item.alias!r} (age {item.age:.0f}s; {item.reason})"
            )
        for alias, why in report.unreachable.items():
            self.stderr.write(f"unreachable: {alias!r}: {why}")
        if not report.resolutions:
            self.stdout.write("no in-doubt transactions")
        if report.purged:
            self.stdout.write(f"purged {report.purged} old decision records")
        if report.unresolved or report.unreachable:
            raise CommandError(
                f"{len(report.unresolved)} branch(es) left unresolved, "
                f"{len(report.unreachable)} database(s) unreachable; run again later"
            )
