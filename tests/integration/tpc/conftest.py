"""Fixtures for the two-phase-commit tests (helpers in tpc_helpers.py)."""

from __future__ import annotations

import pytest
from tpc_helpers import Worker

from accord.testing.databases import ScratchDatabase


@pytest.fixture
def pg_pair(postgres_databases: tuple[ScratchDatabase, ScratchDatabase]) -> Worker:
    """A worker on two PostgreSQL databases ("default", "ledger"), tables created.

    The decision log is "default" (so "default" is the logging last resource);
    recovery acts at once (RECOVERY_DELAY 0).
    """
    first, second = postgres_databases
    worker = Worker(
        {"default": first.django_settings(), "ledger": second.django_settings()},
        {"RECOVERY_DELAY": 0},
    )
    worker.needs_setup = True
    return worker


@pytest.fixture
def pg_maria(
    postgres_databases: tuple[ScratchDatabase, ScratchDatabase], mysql_database: ScratchDatabase
) -> Worker:
    """A worker on "default", "ledger" (PostgreSQL) and "maria" (MariaDB); log in "default".

    NODE is the MariaDB scratch database's own node id, so that the cleanup
    between tests rolls back this run's XA branches and no one else's.
    """
    first, second = postgres_databases
    worker = Worker(
        {
            "default": first.django_settings(),
            "ledger": second.django_settings(),
            "maria": mysql_database.django_settings(),
        },
        {"RECOVERY_DELAY": 0, "NODE": mysql_database.node},
    )
    worker.needs_setup = True
    return worker
