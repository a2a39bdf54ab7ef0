"""System checks for two-phase commit (ids ``accord.E10x``/``accord.W10x``).

========  ==============================================================
id        problem
========  ==============================================================
E100      ``ACCORD`` or ``ACCORD["TPC"]`` is invalid (the message names key
          and value)
E101      PostgreSQL ``max_prepared_transactions`` is 0: PREPARE fails
W102      the decision-log tables are missing in the ``DECISION_LOG``
          database (a warning: it must not stop the ``migrate`` that makes them)
E103      MySQL/MariaDB too old for XA branches that survive a disconnect
          (MariaDB < 10.5, MySQL < 5.7.7)
E104      the MySQL user may not list other sessions' XA branches
          (``XA_RECOVER_ADMIN`` missing, MySQL >= 8.0), so recovery is blind
E105      ``RECOVERY_ALIASES``/``DECISION_LOG`` names an alias whose engine
          cannot take part (e.g. SQLite)
E106      an alias recovery scans is a replica (PostgreSQL standby, MySQL
          ``read_only`` or replicating: ``SHOW SLAVE STATUS`` lists a primary)
W107      a server may lose an acknowledged commit or prepare in a crash
          (MySQL ``innodb_flush_log_at_trx_commit`` != 1, ``sync_binlog`` != 1
          with the binary log on; PostgreSQL ``fsync`` or
          ``full_page_writes`` off)
E108      MariaDB Galera (``wsrep_on``): it does not support XA transactions
W109      tables of a non-transactional engine (MyISAM, ...) in a MySQL
          database: their writes are neither prepared nor rolled back
W110      a ZooKeeper decision log without credentials: anyone who reaches
          ZooKeeper may write a decision
========  ==============================================================

The checks run only in projects that configure two-phase commit, that is,
whose settings have an ``ACCORD["TPC"]`` entry (``{}`` for all defaults): a
project that uses accord for its cache or locks alone is not told that its
SQLite or its ``max_prepared_transactions = 0`` cannot do 2PC. A malformed
``ACCORD`` (not a dict) is reported whatever it holds.

Failure behaviour: the checks never raise; every problem becomes a message
with a hint. E101-E104 and E106-W109 ask the servers, so they run with the
``database`` tag (``manage.py check --database default``, and before
``migrate``); a server that cannot be reached is left to Django's own errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections

from accord.contrib.django.tpc.config import TPCSettings, get_settings
from accord.contrib.django.tpc.recovery import recovery_aliases
from accord.core.errors import ConfigurationError
from accord.core.tpc.builtins import VENDORS
from accord.core.tpc.sqllog import LOG_TABLE, TABLE

__all__ = ["check_tpc_databases", "check_tpc_settings"]


def _configured() -> bool:
    accord_settings = getattr(settings, "ACCORD", None)
    if accord_settings is None:
        return False
    # Anything but a dict is reported: it may well be a malformed TPC entry.
    return not isinstance(accord_settings, dict) or "TPC" in accord_settings


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
    elif conf.decision_log.lower().startswith("zookeeper://") and "@" not in conf.decision_log:
        errors.append(
            Warning(
                "the ZooKeeper decision log has no credentials: its znodes are open to anyone "
                "who can reach ZooKeeper, who could then write a commit decision",
                hint="Put a user and password in the URL (zookeeper://user:password@host:2181"
                "/accord/tpc): accord then authenticates with them (digest) and makes its "
                "znodes readable and writable by that user only.",
                id="accord.W110",
            )
        )
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


def _replica(alias: str, why: str) -> CheckMessage:
    return Error(
        f"database alias {alias!r} is a replica ({why}), and recovery scans it: it would see "
        "(MySQL) or fail on (PostgreSQL) what replication applied, not what its primary holds",
        hint="Declare it with DATABASES[alias]['TEST'] = {'MIRROR': '<primary alias>'} (recovery "
        "then skips it), or list the primaries in ACCORD['TPC']['RECOVERY_ALIASES'].",
        id="accord.E106",
    )


def _unsafe(alias: str, what: str, fix: str) -> CheckMessage:
    return Warning(
        f"database alias {alias!r}: {what}, so a crash may lose a commit or a prepared branch "
        "it acknowledged, and with it the atomicity of tpc.atomic",
        hint=fix,
        id="accord.W107",
    )


def _postgres(alias: str, scanned: bool) -> list[CheckMessage]:
    value, standby, fsync, fpw = _query(
        alias,
        "SELECT current_setting('max_prepared_transactions'), pg_is_in_recovery(), "
        "current_setting('fsync'), current_setting('full_page_writes')",
    )[0]
    errors: list[CheckMessage] = []
    if int(value) <= 0 and not standby:
        errors.append(
            Error(
                f"database alias {alias!r}: PostgreSQL max_prepared_transactions is 0, so "
                "PREPARE TRANSACTION fails",
                hint="Run ALTER SYSTEM SET max_prepared_transactions = 64 (at least "
                "max_connections of the clients using tpc.atomic) as a superuser and restart "
                "PostgreSQL.",
                id="accord.E101",
            )
        )
    if standby and scanned:
        errors.append(_replica(alias, "a PostgreSQL standby: pg_is_in_recovery()"))
    for name, setting in (("fsync", fsync), ("full_page_writes", fpw)):
        if setting != "on":
            errors.append(_unsafe(alias, f"PostgreSQL {name} is off", f"Set {name} = on."))
    return errors


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("-")[0])[:3])


def _replicating(alias: str) -> bool:
    """True if the server replicates from a primary; False if unknown (no REPLICATION CLIENT)."""
    try:
        return bool(_query(alias, "SHOW SLAVE STATUS"))
    except Exception:  # the user may not see replication status: read_only must do
        return False


def _mysql_durability(alias: str, scanned: bool) -> list[CheckMessage]:
    flush, sync_binlog, log_bin, read_only = _query(
        alias,
        "SELECT @@global.innodb_flush_log_at_trx_commit, @@global.sync_binlog, "
        "@@global.log_bin, @@global.read_only",
    )[0]
    errors: list[CheckMessage] = []
    if scanned and int(read_only):
        errors.append(_replica(alias, "read_only = ON"))
    elif scanned and _replicating(alias):
        errors.append(_replica(alias, "SHOW SLAVE STATUS lists a primary it replicates"))
    if int(flush) != 1:
        errors.append(
            _unsafe(
                alias,
                f"innodb_flush_log_at_trx_commit is {flush}",
                "SET GLOBAL innodb_flush_log_at_trx_commit = 1 (and in the server's config).",
            )
        )
    if int(log_bin) and int(sync_binlog) != 1:
        errors.append(
            _unsafe(
                alias,
                f"the binary log is on with sync_binlog = {sync_binlog} (the engine and the "
                "binary log may disagree after a crash)",
                "SET GLOBAL sync_binlog = 1 (and in the server's config).",
            )
        )
    wsrep = _query(alias, "SHOW VARIABLES LIKE 'wsrep_on'")
    if wsrep and str(wsrep[0][1]).upper() == "ON":
        errors.append(
            Error(
                f"database alias {alias!r} is a MariaDB Galera cluster node (wsrep_on), which "
                "does not support XA transactions: a prepared branch is not replicated",
                hint="Use a primary/replica setup for databases that take part in tpc.atomic.",
                id="accord.E108",
            )
        )
    engines = _query(
        alias,
        "SELECT table_name, engine FROM information_schema.tables WHERE table_schema = DATABASE() "
        "AND table_type = 'BASE TABLE' AND engine NOT IN ('InnoDB', 'XtraDB')",
    )
    if engines:
        tables = ", ".join(f"{name} ({engine})" for name, engine in engines[:10])
        errors.append(
            Warning(
                f"database alias {alias!r} has tables of a non-transactional engine: {tables}; "
                "writes to them in tpc.atomic are neither prepared nor rolled back",
                hint="ALTER TABLE ... ENGINE=InnoDB for every table written in tpc.atomic.",
                id="accord.W109",
            )
        )
    return errors


def _mysql(alias: str, scanned: bool) -> list[CheckMessage]:
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
    return errors + _mysql_durability(alias, scanned)


@register(Tags.database)
def check_tpc_databases(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E101-E108, W102, W107, W109: ask each requested PostgreSQL and MySQL server."""
    conf, _ = _settings()  # E100 is reported by check_tpc_settings
    errors: list[CheckMessage] = []
    if conf is None:
        return errors
    try:
        scanned = set(recovery_aliases(conf.recovery_aliases))
    except ConfigurationError:  # an unknown alias: E105 says so
        scanned = set()
    for alias in databases or ():
        vendor = connections[alias].vendor
        try:
            if vendor == "postgresql":
                errors += _postgres(alias, alias in scanned)
            elif vendor == "mysql":
                errors += _mysql(alias, alias in scanned)
        except Exception:  # unreachable: Django reports connection problems itself
            continue
        if conf.decision_log == alias:
            tables = connections[alias].introspection.table_names()
            missing = [t for t in (TABLE, LOG_TABLE) if t not in tables]
            if missing:
                errors.append(
                    Warning(
                        f"the decision-log tables {', '.join(map(repr, missing))} are missing "
                        f"in database {alias!r}; tpc.atomic refuses to start until they exist",
                        hint=f"Run: manage.py migrate accord --database {alias}",
                        id="accord.W102",
                    )
                )
    return errors
