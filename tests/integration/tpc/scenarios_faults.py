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
    return {"error": type(exc).__name__, "message": str(exc)}


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
