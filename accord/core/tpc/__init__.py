"""Two-phase commit, framework-free: coordinator, participants, decision logs, recovery.

Failure behaviour first: see :mod:`accord.core.tpc.coordinator` (what commit
raises when) and :mod:`accord.core.tpc.recovery` (recovery reports, never
raises per branch). Users of Django want :mod:`accord.contrib.django.tpc`.

=================================  ==============================================
:mod:`~accord.core.tpc.xid`        global ids fitting PostgreSQL gids and MySQL XIDs
:mod:`~accord.core.tpc.contract`   the participant, session and decision-log contracts
:mod:`~accord.core.tpc.coordinator` :class:`GlobalTransaction`, presumed abort
:mod:`~accord.core.tpc.postgresql`  ``PREPARE TRANSACTION`` participant
:mod:`~accord.core.tpc.mysql`      XA participant (MySQL, MariaDB)
:mod:`~accord.core.tpc.sqllog`     decision log in a SQL table (logging last resource)
:mod:`~accord.core.tpc.zookeeper`  decision log in ZooKeeper
:mod:`~accord.core.tpc.parallel`   prepares and commits on several databases at once
:mod:`~accord.core.tpc.recovery`   :func:`recover`, :func:`outcome`
:mod:`~accord.core.tpc.operator`   the in-doubt report, heuristic decisions by hand
=================================  ==============================================
"""

from accord.core.tpc.contract import DecisionLog, InDoubt, Participant, Record, SQLConnection
from accord.core.tpc.coordinator import GlobalTransaction, Result
from accord.core.tpc.operator import (
    InDoubtReport,
    InDoubtTransaction,
    decide_by_hand,
    in_doubt_report,
)
from accord.core.tpc.recovery import RecoveryReport, Resolution, outcome, recover
from accord.core.tpc.xid import BranchXid, Xid, make_xid, parse_xid

__all__ = [
    "BranchXid",
    "DecisionLog",
    "GlobalTransaction",
    "InDoubt",
    "InDoubtReport",
    "InDoubtTransaction",
    "Participant",
    "Record",
    "RecoveryReport",
    "Resolution",
    "Result",
    "SQLConnection",
    "Xid",
    "decide_by_hand",
    "in_doubt_report",
    "make_xid",
    "outcome",
    "parse_xid",
    "recover",
]
