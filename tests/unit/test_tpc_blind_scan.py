"""A participant whose server cannot show every prepared branch refuses to be scanned.

MySQL 8 without ``XA_RECOVER_ADMIN`` answers ``XA RECOVER`` with the session's
own branches only: an empty list that recovery would take for "none". No
MySQL 8 server is available to the test suite, so these run the participant
against a session that answers as MySQL 8 does (pure logic); MariaDB's own
answers are covered by the integration tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from accord.core.errors import RecoveryError
from accord.core.tpc.mysql import MySQLParticipant


class MySQL8Session:
    vendor, alias = "mysql", "db"

    def __init__(self, grants: list[str], read_only: int = 0, source: str = "") -> None:
        self.grants, self.read_only, self.source = grants, read_only, source

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        answers: dict[str, list[tuple[Any, ...]]] = {
            "SELECT VERSION(), @@global.read_only": [("8.0.36", self.read_only)],
            "SHOW SLAVE STATUS": [(self.source,)] if self.source else [],
            "SHOW GRANTS": [(g,) for g in self.grants],
            "XA RECOVER": [],
        }
        return answers[sql]


def test_mysql_8_without_xa_recover_admin_refuses_to_report_nothing() -> None:
    participant = MySQLParticipant(MySQL8Session(["GRANT SELECT ON app.* TO u"]), "db")  # type: ignore[arg-type]
    with pytest.raises(RecoveryError, match="XA_RECOVER_ADMIN"):
        participant.in_doubt()


def test_mysql_8_with_xa_recover_admin_is_scanned() -> None:
    session = MySQL8Session(["GRANT XA_RECOVER_ADMIN ON *.* TO u"])
    assert MySQLParticipant(session, "db").in_doubt() == []  # type: ignore[arg-type]


def test_a_read_only_mysql_is_taken_for_a_replica() -> None:
    session = MySQL8Session(["GRANT ALL PRIVILEGES ON *.* TO u"], read_only=1)
    with pytest.raises(RecoveryError, match="read_only"):
        MySQLParticipant(session, "db").in_doubt()  # type: ignore[arg-type]


def test_a_replicating_mysql_is_taken_for_a_replica_even_when_writable() -> None:
    session = MySQL8Session(["GRANT ALL PRIVILEGES ON *.* TO u"], source="primary:3306")
    with pytest.raises(RecoveryError, match="SHOW SLAVE STATUS"):
        MySQLParticipant(session, "db").in_doubt()  # type: ignore[arg-type]
