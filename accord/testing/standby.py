"""A PostgreSQL hot standby of a private cluster: a real replica for tests.

Failure behaviour first: :class:`PostgresStandby` raises
:class:`~accord.testing.errors.ServiceUnavailable` when ``pg_basebackup`` is
missing or fails (the message ends with its output), and as
:class:`~accord.testing.postgres.PostgresServer` does otherwise.

A standby replays its primary's WAL and answers read-only queries. It also
lists the primary's prepared transactions in ``pg_prepared_xacts`` (they are
replicated), while ``COMMIT PREPARED`` is refused there: the reason a
replica alias must not be scanned by two-phase-commit recovery. Use::

    with PostgresServer() as primary, PostgresStandby(primary) as standby:
        ...  # standby.url serves the same databases, read-only

The standby is made with ``pg_basebackup --write-recovery-conf`` from the
primary's superuser over loopback (the private cluster trusts it), then
started on a port of its own.
"""

from __future__ import annotations

import os
import pwd
import subprocess

from accord.testing.errors import ServiceUnavailable
from accord.testing.postgres import POSTGRES, PostgresServer

__all__ = ["PostgresStandby"]


class PostgresStandby(PostgresServer):
    """A streaming-replication hot standby of *primary* (a running :class:`PostgresServer`).

    Its data directory is copied from the primary on first start; after that it
    restarts, is killed and paused like any :class:`PostgresServer`.
    """

    def __init__(self, primary: PostgresServer, **kwargs: object) -> None:
        settings = dict(primary.settings)  # a standby needs at least the primary's limits
        super().__init__(settings=settings, **kwargs)  # type: ignore[arg-type]
        self.primary = primary

    def prepare(self) -> None:
        """Copy the primary with ``pg_basebackup`` the first time; then start as it is."""
        if not (self.data_directory / "PG_VERSION").exists():
            if os.geteuid() == 0:  # pg_basebackup runs as postgres, writing into workdir
                entry = pwd.getpwnam("postgres")
                os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
            self._base_backup()
        super().prepare()  # initdb is skipped: the copy has a PG_VERSION

    def _base_backup(self) -> None:
        command = [
            str(self.bindir / "pg_basebackup"),
            "--host", self.primary.host,
            "--port", str(self.primary.port),
            "--username", "postgres",
            "--pgdata", str(self.data_directory),
            "--write-recovery-conf",
            "--wal-method", "stream",
            "--checkpoint", "fast",  # a spread checkpoint takes minutes after writes
            "--no-sync",
        ]  # fmt: skip
        prefix = ["setpriv", *self.credentials(), "--"] if self.credentials() else []
        result = subprocess.run(
            prefix + command, cwd=self.workdir, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServiceUnavailable(
                POSTGRES,
                f"pg_basebackup from {self.primary.url} failed with code {result.returncode}:\n"
                + (result.stderr or result.stdout)[-2000:],
            )
