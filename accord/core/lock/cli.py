"""``accord lock URL NAME [--timeout S] [--ttl S] -- command args...``

Runs a command while holding a lock, so a cron job installed on several
hosts runs on one at a time. Failure behaviour first, as exit codes:

=====  ========================================================================
code   meaning
=====  ========================================================================
N      the command ran under the lock and exited with N (128+S if killed by S)
75     the lock was busy: another holder kept it for ``--timeout`` seconds
       (default 0: give up at once, the usual wish for a cron job)
76     the lock was lost while the command ran; the command was sent SIGTERM
       (SIGKILL after ``--grace`` seconds)
69     the lock's server could not be reached or failed
2      bad arguments or URL (the message says what was wrong)
127    the command was not found
=====  ========================================================================

Messages go to stderr, prefixed ``accord lock:``. SIGINT and SIGTERM sent
to this process are passed on to the command; the lock is released when it
exits.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from accord.core.errors import ConfigurationError, LockError
from accord.core.lock.lock import Lock, LockCore

__all__ = ["EXIT_BUSY", "EXIT_LOST", "EXIT_UNAVAILABLE", "main"]

EXIT_BUSY = 75  # EX_TEMPFAIL: try again later
EXIT_LOST = 76
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE
EXIT_USAGE = 2
EXIT_NOT_FOUND = 127


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accord", description="accord command-line tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser(
        "lock",
        help="run a command while holding a distributed lock",
        description="Run COMMAND while holding lock NAME on URL; exit with its exit code. "
        f"Exit {EXIT_BUSY} if the lock is busy, {EXIT_LOST} if it was lost while the "
        f"command ran (the command is then terminated), {EXIT_UNAVAILABLE} if the server "
        "failed.",
    )
    lock.add_argument("url", help="e.g. redis://host:6379/0, zookeeper://host:2181, file:///dir")
    lock.add_argument("name", help="the lock's name, the same on every host")
    lock.add_argument("--timeout", type=float, default=0.0, help="seconds to wait (default 0)")
    lock.add_argument("--ttl", type=float, default=30.0, help="lease in seconds (default 30)")
    lock.add_argument(
        "--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL on loss"
    )
    lock.epilog = (
        "The command follows a lone '--': accord lock URL NAME [options] -- command args..."
    )
    return parser


def _say(message: str) -> None:
    print(f"accord lock: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``accord`` command; return its exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse's REMAINDER would swallow options given after NAME, so split at "--" here.
    split = argv.index("--") if "--" in argv else len(argv)
    args = _parser().parse_args(argv[:split])
    cmd = argv[split + 1 :]
    if not cmd:
        _say("no command given: accord lock URL NAME [--timeout S] [--ttl S] -- command args...")
        return EXIT_USAGE
    lost = threading.Event()
    child: list[subprocess.Popen[bytes]] = []

    def on_lost(lock: LockCore, reason: str) -> None:
        lost.set()
        _say(f"lost lock {lock.name!r} ({reason}); terminating the command")
        if child:
            child[0].terminate()
            killer = threading.Timer(args.grace, child[0].kill)
            killer.daemon = True  # dies with us; the child is reaped by then
            killer.start()

    try:
        lock = Lock(args.name, args.url, ttl=args.ttl, on_lost=on_lost)
        if not lock.acquire(timeout=args.timeout):
            _say(f"lock {args.name!r} on {lock.backend.url} is busy (waited {args.timeout} s)")
            return EXIT_BUSY
    except ConfigurationError as exc:
        _say(str(exc))
        return EXIT_USAGE
    except LockError as exc:
        _say(str(exc))
        return EXIT_UNAVAILABLE
    try:
        code = _run(cmd, child, lost)
    finally:
        try:
            lock.release()
        except LockError as exc:
            _say(f"the lock was not held at the end: {exc}")
            code = EXIT_LOST
    return code


def _run(cmd: list[str], child: list[subprocess.Popen[bytes]], lost: threading.Event) -> int:
    try:
        proc = subprocess.Popen(cmd)
    except FileNotFoundError:
        _say(f"command not found: {cmd[0]!r}")
        return EXIT_NOT_FOUND
    child.append(proc)

    def forward(signum: int, frame: FrameType | None) -> None:
        proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    code = proc.wait()
    if lost.is_set():
        return EXIT_LOST
    return 128 - code if code < 0 else code
