"""System checks for two-phase commit (ids ``accord.E10x``/``accord.W10x``).

========  ==============================================================
id        problem
========  ==============================================================
E100      ``ACCORD["TPC"]`` is invalid (the message names key and value)
E101      PostgreSQL ``max_prepared_transactions`` is 0: PREPARE fails
E102      the decision-log table is missing in the ``DECISION_LOG`` database
E103      MySQL/MariaDB too old for XA branches that survive a disconnect
          (MariaDB < 10.5, MySQL < 5.7.7)
E104      the MySQL user may not list other sessions' XA branches
          (``XA_RECOVER_ADMIN`` missing, MySQL >= 8.0), so recovery is blind
E105      ``RECOVERY_ALIASES``/``DECISION_LOG`` names an alias whose engine
          cannot take part (e.g. SQLite)
========  ==============================================================

The checks run only in projects that configure two-phase commit, that is,
whose settings have an ``ACCORD["TPC"]`` entry (``{}`` for all defaults): a
project that uses accord for its cache or locks alone is not told that its
SQLite or its ``max_prepared_transactions = 0`` cannot do 2PC.

Failure behaviour: the checks never raise; every problem becomes a message
with a hint. E101-E104 ask the servers, so they run with the ``database``
tag (``manage.py check --database default``, and before ``migrate``); a
server that cannot be reached is left to Django's own errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import connections

from accord.contrib.django.tpc.config import TPCSettings, get_settings
from accord.core.errors import ConfigurationError
from accord.core.tpc.builtins import VENDORS
from accord.core.tpc.sqllog import TABLE

__all__ = ["check_tpc_databases", "check_tpc_settings"]


def _configured() -> bool:
    accord_settings = getattr(settings, "ACCORD", None)
    return isinstance(accord_settings, dict) and "TPC" in accord_settings


def _settings() -> tuple[TPCSettings | None, list[CheckMessage]]:
    """The TPC settings, or None (with E100 if they are invalid, nothing if absent)."""
    if not _configured():
        return None, []
    try:
        return get_settings(), []
    except ConfigurationError as exc:
        return None, [
            Error(str(exc), hint="See the settings table in docs/tpc.rst.", id="accord.E100")
        ]


@register()
def check_tpc_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E100 and E105: the settings alone, without touching a database."""
    conf, errors = _settings()
    if conf is None:
        return errors
    named = list(conf.recovery_aliases or ())
    if "://" not in conf.decision_log:
        named.append(conf.decision_log)
    for alias in named:
        if alias not in connections.settings:
            errors.append(
                Error(
                    f"ACCORD['TPC'] names unknown database alias {alias!r}",
                    hint=f"DATABASES has: {', '.join(connections)}",
                    id="accord.E105",
                )
            )
        elif connections[alias].vendor not in VENDORS:
            errors.append(
                Error(
                    f"database alias {alias!r} ({connections[alias].vendor}) cannot take part "
                    "in a two-phase commit or hold its decision log",
                    hint="Use a PostgreSQL or MySQL/MariaDB alias.",
                    id="accord.E105",
                )
            )
    return errors


def _query(alias: str, sql: str) -> list[tuple[Any, ...]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _postgres(alias: str) -> list[CheckMessage]:
    value = int(_query(alias, "SHOW max_prepared_transactions")[0][0])
    if value > 0:
        return []
    return [
        Error(
            f"database alias {alias!r}: PostgreSQL max_prepared_transactions is 0, so "
            "PREPARE TRANSACTION fails",
            hint="Run ALTER SYSTEM SET max_prepared_transactions = 64 (at least max_connections "
            "of the clients using tpc.atomic) as a superuser and restart PostgreSQL.",
            id="accord.E101",
        )
    ]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("-")[0])[:3])


def _mysql(alias: str) -> list[CheckMessage]:
    text = str(_query(alias, "SELECT VERSION()")[0][0])
    mariadb = "mariadb" in text.lower()
    version, minimum = _version(text), ((10, 5) if mariadb else (5, 7, 7))
    errors: list[CheckMessage] = []
    if version < minimum:
        errors.append(
            Error(
                f"database alias {alias!r}: {text} drops prepared XA branches when the session "
                "disconnects, so a crash between prepare and commit loses atomicity",
                hint=f"Upgrade to {'MariaDB 10.5' if mariadb else 'MySQL 5.7.7'} or later.",
                id="accord.E103",
            )
        )
    if not mariadb and version >= (8, 0):
        grants = " ".join(str(row[0]) for row in _query(alias, "SHOW GRANTS"))
        if "XA_RECOVER_ADMIN" not in grants and "ALL PRIVILEGES ON *.*" not in grants:
            errors.append(
                Error(
                    f"database alias {alias!r}: the user lacks XA_RECOVER_ADMIN, so XA RECOVER "
                    "hides other sessions' branches and recovery cannot see them",
                    hint="GRANT XA_RECOVER_ADMIN ON *.* TO the user.",
                    id="accord.E104",
                )
            )
    return errors


@register(Tags.database)
def check_tpc_databases(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E101-E104: ask each requested PostgreSQL and MySQL server."""
    conf, _ = _settings()  # E100 is reported by check_tpc_settings
    errors: list[CheckMessage] = []
    if conf is None:
        return errors
    for alias in databases or ():
        vendor = connections[alias].vendor
        try:
            if vendor == "postgresql":
                errors += _postgres(alias)
            elif vendor == "mysql":
                errors += _mysql(alias)
        except Exception:  # unreachable: Django reports connection problems itself
            continue
        if conf.decision_log == alias:
            tables = connections[alias].introspection.table_names()
            if TABLE not in tables:
                errors.append(
                    Error(
                        f"the decision-log table {TABLE!r} is missing in database {alias!r}",
                        hint=f"Run: manage.py migrate accord --database {alias}",
                        id="accord.E102",
                    )
                )
    return errors
