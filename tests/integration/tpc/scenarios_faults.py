"""Scenarios that break something inside a ``tpc.atomic`` block: what the workers do, as JSON."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import connections, transaction
from tpc_testapp.models import Item

from accord.contrib.django import tpc
from accord.core.errors import AccordError
from accord.core.tpc.coordinator import add_step_listener


def _error(exc: BaseException) -> dict[str, Any]:
    found = {"error": type(exc).__name__, "message": str(exc)}
    if exc.__cause__ is not None:  # accord's errors chain the driver's
        found["cause"] = type(exc.__cause__).__name__
    return found


def _result(block: tpc.atomic) -> dict[str, Any]:
    result = block.result
    assert result is not None
    return {
        "xid": str(result.xid),
        "outcome": result.outcome,
        "pending": list(result.pending),
        "unconfirmed": list(getattr(result, "unconfirmed", ["<not reported>"])),
    }


def write_slowly(
    item_id: int, aliases: list[str], sleep: float, prepare_timeout: float | None = None
) -> dict[str, Any]:
    """A block that writes on every alias, then works *sleep* seconds more before committing."""
    block = tpc.atomic(*aliases, prepare_timeout=prepare_timeout)
    try:
        with block:
            for alias in aliases:
                Item.objects.using(alias).create(id=item_id)
            time.sleep(sleep)
    except AccordError as exc:
        return _error(exc)
    return _result(block)


def create_item_procedure(alias: str) -> dict[str, Any]:
    """A stored procedure that inserts an item: its writes bypass Django's execute wrappers."""
    with connections[alias].cursor() as cursor:
        cursor.execute("DROP PROCEDURE IF EXISTS accord_insert_item")
        cursor.execute(
            "CREATE PROCEDURE accord_insert_item(IN item_id INT) "
            "BEGIN INSERT INTO tpc_testapp_item (id, value) VALUES (item_id, 0); END"
        )
    return {}


def write_through_callproc(item_id: int, aliases: list[str], proc_alias: str) -> dict[str, Any]:
    """Every alias but *proc_alias* writes with the ORM; *proc_alias* only through callproc."""
    block = tpc.atomic(*aliases)
    with block:
        for alias in aliases:
            if alias == proc_alias:
                with connections[alias].cursor() as cursor:
                    cursor.callproc("accord_insert_item", [item_id])
            else:
                Item.objects.using(alias).create(id=item_id)
    return _result(block)


def write_and_notify(item_id: int, writer: str, notifier: str, channel: str) -> dict[str, Any]:
    """*writer* inserts an item; *notifier* only sends a NOTIFY (no write, no xid)."""
    block = tpc.atomic(writer, notifier)
    try:
        with block:
            with connections[notifier].cursor() as cursor:
                cursor.execute(f"NOTIFY {channel}, 'item {item_id}'")
            Item.objects.using(writer).create(id=item_id)
    except Exception as exc:
        return _error(exc)
    return _result(block)


def _kill_session(alias: str) -> None:
    """End *alias*'s session from the server side, as an admin or a timeout would."""
    wrapper = connections[alias]
    other = connections.create_connection(alias)
    try:
        with other.cursor() as cursor:
            if wrapper.vendor == "postgresql":
                pid = wrapper.connection.info.backend_pid
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            else:
                cursor.execute(f"KILL CONNECTION {int(wrapper.connection.thread_id())}")
    finally:
        other.close()


def on_commit_with_a_session_killed(
    item_id: int, aliases: list[str], killed: str, at: str = "after-decision"
) -> dict[str, Any]:
    """Kill *killed*'s session at coordinator step *at*; the callback looks at its row."""
    events: list[Any] = []

    def kill(step: str, xid: object) -> None:
        if step == at and not events:
            events.append("killed")
            _kill_session(killed)

    add_step_listener(kill)
    block = tpc.atomic(*aliases)
    with block:
        for alias in aliases:
            Item.objects.using(alias).create(id=item_id)

        def seen() -> None:
            fresh = connections.create_connection(killed)
            try:
                with fresh.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM tpc_testapp_item WHERE id = %s", [item_id])
                    events.append(["visible on " + killed, cursor.fetchone()[0] == 1])
            finally:
                fresh.close()

        transaction.on_commit(seen, using=aliases[0])
    return {**_result(block), "events": events}


def write_after_idle(item_id: int, aliases: list[str], idle: float) -> dict[str, Any]:
    """Two blocks with *idle* seconds between them (the log's session may time out)."""
    outcomes = []
    for n in range(2):
        if n:
            time.sleep(idle)
        block = tpc.atomic(*aliases)
        try:
            with block:
                for alias in aliases:
                    Item.objects.using(alias).create(id=item_id + n)
        except AccordError as exc:
            outcomes.append(_error(exc))
            continue
        outcomes.append(_result(block))
    return {"outcomes": outcomes}


def hand_resolved_before_phase_two(item_id: int, aliases: list[str], victim: str) -> dict:
    """Someone rolls back *victim*'s prepared branch by hand just after the decision."""
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logging.getLogger("accord.tpc").addHandler(Capture(level=logging.WARNING))

    def roll_back_by_hand(step: str, xid: object) -> None:
        if step != "after-decision":
            return
        other = connections.create_connection(victim)
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE %s", [f"{xid}:%"])
                for (gid,) in cursor.fetchall():
                    cursor.execute(f"ROLLBACK PREPARED '{gid}'")
        finally:
            other.close()

    add_step_listener(roll_back_by_hand)
    block = tpc.atomic(*aliases)
    with block:
        for alias in aliases:
            Item.objects.using(alias).create(id=item_id)
    return {**_result(block), "warnings": records}


def deadlocked_xa_branch() -> dict[str, Any]:
    """MariaDB rolls the block's XA branch back as a deadlock's victim; the block catches the
    error and goes on, so the branch's ``XA END``/``XA PREPARE`` is refused at commit."""
    import threading

    import MySQLdb

    Item.objects.using("maria").bulk_create([Item(id=n) for n in range(1, 101)])
    where = connections["maria"].settings_dict
    heavy = MySQLdb.connect(
        host=where["HOST"],
        port=int(where["PORT"]),
        user=where["USER"],
        password=where["PASSWORD"],
        database=where["NAME"],
    )
    deadlock = ""
    try:
        with tpc.atomic("default", "maria"):
            Item.objects.using("default").create(id=1)
            with connections["maria"].cursor() as cursor:  # a cursor: Django marks nothing
                cursor.execute("UPDATE tpc_testapp_item SET value = 1 WHERE id = 1")
                other = heavy.cursor()
                other.execute("BEGIN")
                other.execute("UPDATE tpc_testapp_item SET value = 2 WHERE id > 2")  # heavier
                blocked = threading.Thread(
                    target=other.execute,
                    args=("UPDATE tpc_testapp_item SET value = 2 WHERE id = 1",),
                )
                blocked.start()
                time.sleep(0.5)  # it waits for row 1, which the block holds
                try:  # row 3 is the other's: a deadlock, and the lighter branch is the victim
                    cursor.execute("UPDATE tpc_testapp_item SET value = 1 WHERE id = 3")
                except Exception as exc:
                    deadlock = str(exc)
                blocked.join()
                heavy.rollback()
    except AccordError as exc:
        return {**_error(exc), "deadlock": deadlock}
    finally:
        heavy.close()
    return {"deadlock": deadlock}


def log_database_read_only(item_id: int, aliases: list[str]) -> dict[str, Any]:
    """The decision log's database refuses the decision: before prepare, its database turns
    read-only for new sessions and the log's idle session is ended, so it reconnects read-only."""
    from accord.contrib.django.tpc.config import decision_log, get_settings

    log_alias = get_settings().decision_log
    name = connections[log_alias].settings_dict["NAME"]

    def read_only(step: str, xid: object) -> None:
        if step != "before-prepare":
            return
        own = decision_log(get_settings())._own  # type: ignore[attr-defined]
        other = connections.create_connection(log_alias)
        try:
            with other.cursor() as cursor:
                cursor.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
                pid = own.wrapper.connection.info.backend_pid
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            other.close()
        time.sleep(0.2)  # the server's goodbye reaches the log's socket

    add_step_listener(read_only)
    try:
        return write_reporting_error(item_id, aliases)
    finally:
        fresh = connections.create_connection(log_alias)
        try:
            with fresh.cursor() as cursor:
                cursor.execute("SET default_transaction_read_only = off")
                cursor.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        finally:
            fresh.close()


def write_reporting_error(item_id: int, aliases: list[str]) -> dict[str, Any]:
    """A block writing on every alias; accord's error, its cause and the cause's, all texts."""
    block = tpc.atomic(*aliases)
    try:
        with block:
            for alias in aliases:
                Item.objects.using(alias).create(id=item_id)
    except AccordError as exc:
        cause = exc.__cause__
        return {
            **_error(exc),
            "cause_cause": type(cause.__cause__).__name__ if cause is not None else "",
            "refused": getattr(exc, "refused", None),
            "text": "".join(str(e) + repr(e) for e in (exc, cause, cause and cause.__cause__)),
        }
    return _result(block)
