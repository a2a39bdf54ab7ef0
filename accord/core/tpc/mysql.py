"""The MySQL/MariaDB participant: ``XA START`` ... ``XA PREPARE`` / ``XA COMMIT``.

Failure behaviour first: the driver's errors propagate (the coordinator
turns a refused ``XA PREPARE`` into :class:`~accord.core.errors.PrepareFailed`,
asking :meth:`~MySQLParticipant.classify` what the error means), except that
``commit_prepared``/``rollback_prepared`` return False when the branch does
not exist, and raise :class:`~accord.core.tpc.contract.BranchBusy` when the server
refuses with ``XAER_NOTA`` although ``XA RECOVER`` lists the branch: MariaDB
lets no other session finish a prepared branch while its owner session is
still connected (recovery retries it once the owner is gone).

:meth:`~MySQLParticipant.in_doubt` raises :class:`~accord.core.errors.RecoveryError`
when ``XA RECOVER`` cannot show every branch (MySQL 8 without
``XA_RECOVER_ADMIN`` shows only the session's own) or the server is a replica
(``read_only``, or replication configured): an empty answer must mean none.

``XA START`` must be the session's first statement of the transaction. None of
the MySQL drivers implement the DB-API ``tpc_*`` calls, so this speaks SQL,
with ids as hex literals. MySQL reports no prepare time (``prepared_at`` is
None: recovery counts a branch's age from when it first saw it). Prepared
branches survive a disconnect on MariaDB >= 10.5 and MySQL >= 5.7.7 only (the
system check says so).

Whether the branch wrote: a statement the adapter counted as a write says yes
at once; otherwise the server is asked (``information_schema.INNODB_TRX``
``trx_rows_modified``), so writes the adapter did not see (``callproc``, the
raw driver connection) are not missed. Without the ``PROCESS`` privilege the
server cannot be asked, and every branch counts as a writer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from accord.core.errors import RecoveryError
from accord.core.tpc.contract import BranchBusy, ErrorKind, InDoubt, SQLConnection, chain
from accord.core.tpc.xid import BranchXid, parse_mysql_xid

__all__ = ["MySQLParticipant", "classify", "errno"]

_XAER_NOTA = 1397  # unknown XID (or, on MariaDB, owned by a live session)
#: CR_SERVER_GONE_ERROR, CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED: the session was lost.
_SESSION_LOST = {2006, 2013, 2055}


def errno(exc: BaseException) -> int | None:
    """The MySQL error number behind *exc* (mysqlclient's ``args[0]``), following causes."""
    for err in chain(exc):
        args = getattr(err, "args", ())
        if args and isinstance(args[0], int) and type(err).__module__.startswith("MySQLdb"):
            return args[0]
    return None


def classify(exc: BaseException) -> ErrorKind | None:
    """``"lost"`` (the client lost the session), ``"refused"`` (any other error number:
    the server answered), or None (no MySQL error number: cannot tell)."""
    code = errno(exc)
    if code is None:
        return None
    return "lost" if code in _SESSION_LOST else "refused"


class MySQLParticipant:
    """One MySQL/MariaDB database in a global transaction (see :class:`~.contract.Participant`)."""

    def __init__(self, connection: SQLConnection, alias: str) -> None:
        self.connection = connection
        self.alias = alias
        self.branch: BranchXid | None = None
        self.state = "none"  # none -> active -> idle -> prepared -> done

    def classify(self, exc: BaseException) -> ErrorKind | None:
        """What *exc*, raised by one of this participant's statements, means (see the contract)."""
        return classify(exc)

    def _xid(self) -> str:
        assert self.branch is not None, "begin() first"
        return self.branch.mysql_literal()

    def begin(self, branch: BranchXid) -> None:
        """``XA START``: must come before any other statement of the transaction."""
        self.branch = branch
        self.connection.execute(f"XA START {self._xid()}")
        self.state = "active"
        self.connection.reset_writes()

    def start_begin(self, branch: BranchXid) -> Callable[[], None] | None:
        """Send ``XA START``; a callable that finishes it as :meth:`begin` would (None: cannot)."""
        self.branch = branch
        send = getattr(self.connection, "send", None)
        handle = send(f"XA START {self._xid()}") if send is not None else None
        if handle is None:
            return None

        def finish() -> None:
            handle()
            self.state = "active"
            self.connection.reset_writes()

        return finish

    def wrote(self) -> bool:
        """A write statement was seen, or the server says the transaction modified rows."""
        if self.connection.wrote():
            return True
        try:
            rows = self.connection.execute(
                "SELECT trx_rows_modified FROM information_schema.INNODB_TRX "
                "WHERE trx_mysql_thread_id = CONNECTION_ID()"
            )
        except Exception:  # no PROCESS privilege: cannot tell, so it may have written
            return True
        return bool(rows) and int(rows[0][0]) > 0

    def _end(self) -> None:
        if self.state == "active":
            self.state = "idle"  # even if XA END fails: do not try it twice
            self.connection.execute(f"XA END {self._xid()}")

    def prepare(self) -> None:
        """``XA END`` then ``XA PREPARE``."""
        self._end()
        self.connection.execute(f"XA PREPARE {self._xid()}")
        self.state = "prepared"

    def start_prepare(self) -> Callable[[], None] | None:
        """``XA END``, then send ``XA PREPARE``; a callable that waits for it (None: cannot)."""
        send = getattr(self.connection, "send", None)
        if send is None:
            return None
        self._end()
        handle = send(f"XA PREPARE {self._xid()}")
        if handle is None:
            self.connection.execute(f"XA PREPARE {self._xid()}")
            self.state = "prepared"
            return lambda: None

        def finish() -> None:
            handle()
            self.state = "prepared"

        return finish

    def start_commit_prepared(self, branch: BranchXid) -> Callable[[], bool] | None:
        """Send ``XA COMMIT``; a callable that finishes it as :meth:`commit_prepared` would."""
        send = getattr(self.connection, "send", None)
        handle = send(f"XA COMMIT {branch.mysql_literal()}") if send is not None else None
        if handle is None:
            return None

        def finish() -> bool:
            try:
                handle()
            except Exception as exc:
                return self._refused("COMMIT", branch, exc)
            if branch == self.branch:
                self.state = "done"
            return True

        return finish

    def commit_one_phase(self) -> None:
        """``XA END`` then ``XA COMMIT ... ONE PHASE``."""
        self._end()
        self.connection.execute(f"XA COMMIT {self._xid()} ONE PHASE")
        self.state = "done"

    def rollback(self) -> None:
        """``XA END`` then ``XA ROLLBACK``; errors of a dead session are ignored."""
        with contextlib.suppress(Exception):  # already ended, or the session is gone
            self._end()
        with contextlib.suppress(Exception):  # the server rolls back by itself
            self.connection.execute(f"XA ROLLBACK {self._xid()}")
        self.state = "done"

    def commit_prepared(self, branch: BranchXid) -> bool:
        """``XA COMMIT``; False if the branch is gone, BranchBusy if its owner is connected."""
        return self._finish("COMMIT", branch)

    def rollback_prepared(self, branch: BranchXid) -> bool:
        """``XA ROLLBACK``; False if the branch is gone, BranchBusy if its owner is connected."""
        return self._finish("ROLLBACK", branch)

    def _finish(self, verb: str, branch: BranchXid) -> bool:
        try:
            self.connection.execute(f"XA {verb} {branch.mysql_literal()}")
        except Exception as exc:
            return self._refused(verb, branch, exc)
        if branch == self.branch:
            self.state = "done"
        return True

    def _refused(self, verb: str, branch: BranchXid, exc: Exception) -> bool:
        """False if the branch is gone; BranchBusy if its owner holds it; else re-raise."""
        if errno(exc) != _XAER_NOTA:
            raise exc
        if any(found.branch == branch for found in self.in_doubt()):
            raise BranchBusy(
                f"XA {verb} of {branch.gid} on {self.alias!r} was refused while "
                "the session that prepared it is still connected; retry when it is gone"
            ) from exc
        return False

    def _check_sees_everything(self) -> None:
        text, read_only = self.connection.execute("SELECT VERSION(), @@global.read_only")[0]
        if int(read_only):
            raise RecoveryError(
                f"database alias {self.alias!r} is read_only (a replica?): its XA RECOVER lists "
                "what replication applied, and resolving it there would make the replica "
                "diverge; leave it out of RECOVERY_ALIASES and scan its primary"
            )
        replicating: list[tuple[object, ...]] = []
        with contextlib.suppress(Exception):  # without REPLICATION CLIENT: read_only must do
            replicating = self.connection.execute("SHOW SLAVE STATUS")
        if replicating:
            raise RecoveryError(
                f"database alias {self.alias!r} is a replica (SHOW SLAVE STATUS): leave it "
                "out of RECOVERY_ALIASES and scan its primary"
            )
        major = str(text).split(".")[0]
        if "mariadb" not in str(text).lower() and major.isdigit() and int(major) >= 8:
            grants = " ".join(str(r[0]) for r in self.connection.execute("SHOW GRANTS"))
            if "XA_RECOVER_ADMIN" not in grants and "ALL PRIVILEGES ON *.*" not in grants:
                raise RecoveryError(
                    f"database alias {self.alias!r}: the user lacks XA_RECOVER_ADMIN, so "
                    "XA RECOVER shows only its own session's branches; GRANT "
                    "XA_RECOVER_ADMIN ON *.* to it"
                )

    def in_doubt(self) -> list[InDoubt]:
        """accord's prepared branches on this server (``XA RECOVER`` is server-wide)."""
        self._check_sees_everything()
        found = []
        for format_id, gtrid_length, bqual_length, data in self.connection.execute("XA RECOVER"):
            raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
            gtrid = raw[:gtrid_length]
            bqual = raw[gtrid_length : gtrid_length + bqual_length]
            branch = parse_mysql_xid(int(format_id), gtrid, bqual)
            if branch is not None:
                found.append(InDoubt(branch, None))
        return found
