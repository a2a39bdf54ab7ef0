"""The ``ACCORD["TPC"]`` settings, and how aliases become participants and a decision log.

Failure behaviour first: a bad setting raises
:class:`~accord.core.errors.ConfigurationError` naming the key, the value and
what is accepted (the system check ``accord.E100`` reports the same message);
an alias that is not in ``DATABASES``, or whose engine no plugin can drive,
raises it too, before anything is written.

The keys, their defaults (held by :class:`TPCSettings` alone) and meanings are
listed in the settings reference (``docs/settings.rst``); a unit test compares
the documented defaults with the dataclass.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections

from accord.contrib.django.tpc.connection import DjangoSQLConnection, fresh_connection
from accord.core.errors import ConfigurationError
from accord.core.hookspecs import hookimpl
from accord.core.plugins import first_result, get_plugin_manager
from accord.core.tpc.contract import DecisionLog, Participant
from accord.core.tpc.sqllog import SQLDecisionLog
from accord.core.tpc.xid import validate_node
from accord.core.urls import redact
from accord.core.validate import number, number_or_none

__all__ = [
    "TPCSettings",
    "decision_log",
    "get_settings",
    "parse_settings",
    "participant_for",
    "resolve_alias",
]

#: DECISION_RETENTION must be at least this many times RECOVERY_DELAY.
RETENTION_FACTOR = 10


@dataclass(frozen=True)
class TPCSettings:
    """``ACCORD["TPC"]``, validated, with defaults filled in: the only place a default is written.

    Each field is the key of the same name in upper case: ``node`` is ``NODE``
    (the coordinating deployment's id in every xid, 1-24 of ``[a-z0-9_-]``),
    ``decision_log`` a database alias or a URL (``zookeeper://...``),
    ``decision_log_options`` the options passed with it to the
    ``accord_decision_log`` hook (ZooKeeper: ``{"timeout": seconds}``),
    ``recovery_delay`` and ``decision_retention`` seconds (the retention at
    least ``RETENTION_FACTOR`` x the delay), ``recovery_aliases`` the aliases
    recovery scans (None: every PostgreSQL and MySQL alias that is not a test
    mirror), ``recover_nodes`` the nodes recovery resolves (empty: ``NODE``),
    ``phase_two_timeout`` and ``prepare_timeout`` seconds.
    """

    node: str = "default"
    decision_log: str = "default"
    decision_log_options: Mapping[str, Any] = field(default_factory=dict)
    recovery_delay: float = 60.0
    decision_retention: float = 7 * 86400.0
    recovery_aliases: tuple[str, ...] | None = None
    recover_nodes: tuple[str, ...] = ()
    phase_two_timeout: float = 5.0
    prepare_timeout: float | None = None


_DEFAULTS = TPCSettings()
#: The keys ``ACCORD["TPC"]`` accepts: the dataclass's fields, upper-cased.
_KEYS = tuple(f.name.upper() for f in fields(TPCSettings))


def _seconds(raw: Mapping[str, Any], key: str, *, positive: bool = False) -> float:
    return number(
        raw.get(key, getattr(_DEFAULTS, key.lower())),
        f'ACCORD["TPC"]["{key}"]',
        minimum=0,
        above=positive,
        unit="seconds",
        sep=" = ",
    )


def _names(raw: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f'ACCORD["TPC"]["{key}"] = {value!r} is invalid: expected a list of strings'
        )
    return tuple(value)


def parse_settings(accord: object) -> TPCSettings:
    """Validate the whole ``ACCORD`` setting's ``"TPC"`` entry; see the module docstring."""
    if not isinstance(accord, Mapping):
        raise ConfigurationError(
            f"ACCORD = {accord!r} is invalid: expected a dict such as "
            '{"TPC": {"DECISION_LOG": "default"}}'
        )
    raw = accord.get("TPC", {})
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f'ACCORD["TPC"] = {raw!r} is invalid: expected a dict')
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ConfigurationError(
            f'ACCORD["TPC"] has unknown keys {unknown}; accepted: {", ".join(_KEYS)}'
        )
    node = validate_node(raw.get("NODE", _DEFAULTS.node))
    log = raw.get("DECISION_LOG", _DEFAULTS.decision_log)
    if not isinstance(log, str) or not log:
        raise ConfigurationError(
            f'ACCORD["TPC"]["DECISION_LOG"] = {log!r} is invalid: expected a database '
            "alias or a URL such as 'zookeeper://127.0.0.1:2181/accord/tpc'"
        )
    options = raw.get("DECISION_LOG_OPTIONS", _DEFAULTS.decision_log_options)
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ConfigurationError(
            f'ACCORD["TPC"]["DECISION_LOG_OPTIONS"] = {options!r} is invalid: expected a dict '
            'of options for the decision log, such as {"timeout": 10}'
        )
    nodes = _names(raw, "RECOVER_NODES") or (node,)
    for other in nodes:
        validate_node(other)
    delay = _seconds(raw, "RECOVERY_DELAY")
    retention = _seconds(raw, "DECISION_RETENTION", positive=True)
    if retention < RETENTION_FACTOR * delay:
        raise ConfigurationError(
            f'ACCORD["TPC"]["DECISION_RETENTION"] = {raw.get("DECISION_RETENTION", retention)!r} '
            f"is invalid: it must be at least {RETENTION_FACTOR} x RECOVERY_DELAY "
            f"({RETENTION_FACTOR * delay:g} s): a coordinator slower than the delay must find "
            "recovery's abort record still there"
        )
    return TPCSettings(
        node=node,
        decision_log=log,
        decision_log_options=dict(options),
        recovery_delay=delay,
        decision_retention=retention,
        recovery_aliases=_names(raw, "RECOVERY_ALIASES"),
        recover_nodes=nodes,
        phase_two_timeout=_seconds(raw, "PHASE_TWO_TIMEOUT"),
        prepare_timeout=number_or_none(
            raw.get("PREPARE_TIMEOUT", _DEFAULTS.prepare_timeout),
            'ACCORD["TPC"]["PREPARE_TIMEOUT"]',
            minimum=0,
            above=True,
            unit="seconds",
            optional=True,
            sep=" = ",
        ),
    )


#: The last ``ACCORD["TPC"]`` parsed: its ``repr`` (types included: ``True`` is not ``1``)
#: and the result.
_parsed: tuple[str, TPCSettings] | None = None


def get_settings() -> TPCSettings:
    """Read and check ``settings.ACCORD["TPC"]`` (see the module docstring).

    Parsed once, then again only when the setting changed: Django's
    ``setting_changed`` (``override_settings``) drops the cache, and a
    setting assigned or edited in place is told by comparing its ``repr``
    with that of what was parsed (a bad setting raises every time: errors
    are not cached).
    """
    global _parsed
    accord = getattr(settings, "ACCORD", {})
    key = repr(accord.get("TPC", {}) if isinstance(accord, Mapping) else accord)
    cached = _parsed
    if cached is not None and cached[0] == key:
        return cached[1]
    parsed = parse_settings(accord)
    _parsed = (key, parsed)
    return parsed


def _forget_settings(*, setting: str, **kwargs: Any) -> None:
    global _parsed
    if setting == "ACCORD":
        _parsed = None


setting_changed.connect(_forget_settings, dispatch_uid="accord.contrib.django.tpc.settings")


def resolve_alias(alias: object) -> str:
    """Return *alias* if ``DATABASES`` has it, else raise :class:`ConfigurationError`."""
    if not isinstance(alias, str):
        raise ConfigurationError(f"database alias {alias!r} is not a string")
    if alias not in connections.settings:
        raise ConfigurationError(
            f"unknown database alias {alias!r}; DATABASES has: {', '.join(connections)}"
        )
    return alias


class _DjangoPlugin:
    """accord's Django decision log (``django://<alias>``), asked after any other plugin."""

    @staticmethod
    @hookimpl(trylast=True)
    def accord_decision_log(scheme: str, url: str, options: dict[str, Any]) -> Any | None:
        if scheme != "django":
            return None
        if options:
            raise ConfigurationError(
                f'ACCORD["TPC"]["DECISION_LOG_OPTIONS"] = {dict(options)!r} is invalid: a '
                "decision log in a database takes no options; expected {}"
            )
        alias = url.partition("://")[2]
        return SQLDecisionLog(alias, lambda: fresh_connection(alias), url=url)


_register_lock = threading.Lock()


def _hook() -> Any:
    manager = get_plugin_manager()
    with _register_lock:
        if not manager.has_plugin("accord.contrib.django.tpc"):
            manager.register(
                types.SimpleNamespace(accord_decision_log=_DjangoPlugin.accord_decision_log),
                name="accord.contrib.django.tpc",
            )
    return manager.hook


def participant_for(connection: DjangoSQLConnection) -> Participant:
    """The participant a plugin provides for *connection*'s vendor, or ConfigurationError."""
    participant = first_result(
        "accord_tpc_participant",
        vendor=connection.vendor,
        connection=connection,
        alias=connection.alias,
    )
    if participant is None:
        raise ConfigurationError(
            f"database alias {connection.alias!r} uses {connection.vendor}, which cannot take "
            "part in a two-phase commit; accepted: postgresql, mysql (MariaDB), or a vendor "
            "an installed accord plugin provides"
        )
    return participant  # type: ignore[no-any-return]


_local = threading.local()


def decision_log(conf: TPCSettings) -> DecisionLog:
    """This thread's decision log for *conf* (one per thread and log: it keeps a session)."""
    logs: dict[str, DecisionLog] | None = getattr(_local, "logs", None)
    if logs is None:
        logs = _local.logs = {}
    key = f"{conf.decision_log} {sorted(conf.decision_log_options.items())!r}"
    cached = logs.get(key)
    if cached is not None:
        return cached
    target = conf.decision_log
    if "://" in target:
        scheme = target.partition("://")[0].lower()
    else:
        scheme, target = "django", f"django://{resolve_alias(target)}"
    log = _hook().accord_decision_log(
        scheme=scheme, url=target, options=dict(conf.decision_log_options)
    )
    if log is None:
        raise ConfigurationError(
            f'ACCORD["TPC"]["DECISION_LOG"] = {redact(conf.decision_log)!r} is invalid: no '
            f"plugin serves {scheme!r}; expected a database alias, or a zookeeper:// URL"
        )
    logs[key] = log
    return log  # type: ignore[no-any-return]
