"""Global transaction ids: one format that fits PostgreSQL's gid and MySQL's XID.

Failure behaviour first: :func:`make_xid` raises
:class:`~accord.core.errors.ConfigurationError` for a node id that is not 1-24
characters of ``[a-z0-9_-]``. :func:`parse_gid` and :func:`parse_mysql_xid`
never raise: anything that is not an accord id gives ``None``, so recovery
cannot touch a prepared transaction that some other software owns.

The format::

    global id (MySQL gtrid)   accord:<node>:<12 hex: start, ms since epoch><20 hex: random>
    branch qualifier (bqual)  <log: 16 hex>:<branch number, 1-based, decimal>
    PostgreSQL gid            <global id>:<bqual>
    MySQL formatID            FORMAT_ID (0x41434344, "ACCD")

The global id is at most 7 + 24 + 1 + 32 = 64 bytes (MySQL's gtrid limit);
the bqual at most 20 (MySQL accepts 64), the gid at most 85 (PostgreSQL
accepts 199). The gid carries the branch because ``pg_prepared_xacts`` is per
cluster: two databases of one server cannot prepare the same gid.

``log`` is the identity of the decision log that decides the transaction
(:meth:`~accord.core.tpc.contract.DecisionLog.identity`: 64 random bits kept
in the log itself). It is what makes a branch provably a deployment's own:
MariaDB's ``XA RECOVER`` lists every branch of the server, and two
deployments on one server may well use the same node id; they cannot have
the same log. Recovery touches only branches of its own log. The node id says
which coordinator began the transaction (``RECOVER_NODES``).
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from dataclasses import dataclass

from accord.core.errors import ConfigurationError

__all__ = [
    "FORMAT_ID",
    "LOG_ID_LENGTH",
    "PREFIX",
    "BranchXid",
    "Xid",
    "make_xid",
    "parse_gid",
    "parse_mysql_xid",
    "parse_xid",
    "validate_node",
]

PREFIX = "accord"
#: MySQL/MariaDB ``formatID`` of every accord branch ("ACCD"; must be < 2**31).
FORMAT_ID = 0x41434344
#: Hex digits of a decision log's identity.
LOG_ID_LENGTH = 16
_NODE_RE = re.compile(r"[a-z0-9_-]{1,24}")
_LOG_RE = re.compile(r"[0-9a-f]{16}")
_XID_RE = re.compile(r"accord:([a-z0-9_-]{1,24}):([0-9a-f]{12})([0-9a-f]{20})")
_GID_RE = re.compile(r"(accord:[a-z0-9_-]{1,24}:[0-9a-f]{32}):([0-9a-f]{16}):([1-9][0-9]{0,2})")


@dataclass(frozen=True, order=True)
class Xid:
    """A global transaction id; ``str(xid)`` is its text form (the MySQL gtrid)."""

    node: str
    started_ms: int
    nonce: str

    def __str__(self) -> str:
        return self.text

    @functools.cached_property
    def text(self) -> str:
        """The text form, made once (it names the transaction in every statement)."""
        return f"{PREFIX}:{self.node}:{self.started_ms:012x}{self.nonce}"

    @property
    def started(self) -> float:
        """When the transaction began, in seconds since the epoch."""
        return self.started_ms / 1000.0

    def branch(self, number: int, log: str) -> BranchXid:
        """The id of branch *number* (1-based, one per participant) decided by log *log*.

        Raises :class:`ConfigurationError` for a log identity that is not 16 hex digits.
        """
        if not _LOG_RE.fullmatch(log):
            raise ConfigurationError(
                f"decision log identity {log!r} is invalid: expected 16 lower-case hex digits"
            )
        return BranchXid(self, number, log)


@dataclass(frozen=True, order=True)
class BranchXid:
    """One participant's branch of a global transaction, and the log that decides it."""

    xid: Xid
    number: int
    log: str

    @functools.cached_property
    def gid(self) -> str:
        """The PostgreSQL gid: ``<global id>:<log>:<branch number>``."""
        return f"{self.xid}:{self.log}:{self.number}"

    @property
    def gtrid(self) -> bytes:
        """The MySQL global transaction id part (at most 64 bytes)."""
        return str(self.xid).encode("ascii")

    @property
    def bqual(self) -> bytes:
        """The MySQL branch qualifier, ``<log>:<number>``: distinct per branch and per log."""
        return f"{self.log}:{self.number}".encode("ascii")

    def mysql_literal(self) -> str:
        """The XID as MySQL SQL: ``X'<gtrid hex>', X'<bqual hex>', <formatID>``."""
        return f"X'{self.gtrid.hex()}', X'{self.bqual.hex()}', {FORMAT_ID}"


def validate_node(node: object) -> str:
    """Return *node* if it is a valid node id, else raise :class:`ConfigurationError`."""
    if not isinstance(node, str) or not _NODE_RE.fullmatch(node):
        raise ConfigurationError(
            f"two-phase-commit node id {node!r} is invalid: use 1 to 24 characters "
            "among lower-case letters, digits, '_' and '-', e.g. 'web-1'"
        )
    return node


def make_xid(node: str, *, now: float | None = None) -> Xid:
    """A new, unique global id for *node*; raises :class:`ConfigurationError` for a bad node."""
    started = time.time() if now is None else now
    return Xid(validate_node(node), int(started * 1000), secrets.token_hex(10))


def parse_xid(text: str) -> Xid | None:
    """The :class:`Xid` written as *text*, or ``None`` if it is not an accord global id."""
    match = _XID_RE.fullmatch(text)
    if match is None:
        return None
    return Xid(match.group(1), int(match.group(2), 16), match.group(3))


def parse_gid(gid: str) -> BranchXid | None:
    """The branch a PostgreSQL *gid* names, or ``None`` if accord did not make it."""
    match = _GID_RE.fullmatch(gid)
    if match is None:
        return None
    xid = parse_xid(match.group(1))
    return None if xid is None else xid.branch(int(match.group(3)), match.group(2))


def parse_mysql_xid(format_id: int, gtrid: bytes, bqual: bytes) -> BranchXid | None:
    """The branch a MySQL XID names, or ``None`` if accord did not make it."""
    if format_id != FORMAT_ID:
        return None
    try:
        return parse_gid(f"{gtrid.decode('ascii')}:{bqual.decode('ascii')}")
    except UnicodeDecodeError:
        return None
