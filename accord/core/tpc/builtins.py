"""accord's own two-phase-commit providers, registered as a plugin like any other.

Failure behaviour first: these hooks never raise for a vendor or scheme they
do not serve (they answer ``None``, so the caller can name the choices);
a ``zookeeper`` decision log without kazoo installed raises
:class:`~accord.core.errors.MissingDependency` when first used, and one given
an option other than ``timeout`` raises :class:`~accord.core.errors.ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accord.core.errors import ConfigurationError
from accord.core.hookspecs import hookimpl
from accord.core.tpc.contract import Participant

#: The vendors accord's own participants drive.
VENDORS = ("postgresql", "mysql")


@hookimpl
def accord_tpc_participant(vendor: str, connection: Any, alias: str) -> Participant | None:
    """PostgreSQL and MySQL/MariaDB participants over an :class:`SQLConnection` adapter."""
    # Duck-typed: isinstance() on a runtime-checkable Protocol costs ~40 us a call.
    if not (hasattr(connection, "execute") and hasattr(connection, "in_transaction")):
        return None
    if vendor == "postgresql":
        from accord.core.tpc.postgresql import PostgresParticipant

        return PostgresParticipant(connection, alias)
    if vendor == "mysql":
        from accord.core.tpc.mysql import MySQLParticipant

        return MySQLParticipant(connection, alias)
    return None


@hookimpl
def accord_decision_log(scheme: str, url: str, options: Mapping[str, Any]) -> Any | None:
    """``zookeeper://host:port[,host:port]/path``: decisions as znodes; option ``timeout``."""
    if scheme != "zookeeper":
        return None
    from accord.core.tpc.zookeeper import ZooKeeperDecisionLog

    unknown = sorted(set(options) - {"timeout"})
    if unknown:
        raise ConfigurationError(
            f"decision log options {unknown} are invalid for a zookeeper:// decision log: "
            "expected only 'timeout' (seconds)"
        )
    return ZooKeeperDecisionLog(url, **dict(options))
