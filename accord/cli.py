"""The ``accord`` command: tools for users without Django.

``accord lock URL NAME [--timeout S] [--ttl S] [--grace S] -- COMMAND [ARG...]``
    runs a command while holding a lock, so a cron job installed on several
    hosts runs on one at a time.

``accord ring NODE [NODE...] --key KEY [--key KEY...] [--hash H] [--vnodes N] [-n N]``
    prints which node each key maps to on a :class:`~accord.core.ring.HashRing`
    of those nodes (``-n``: the first *N* nodes of its preference list);
    ``--weight NODE=W`` gives a node a weight other than 1.

Failure behaviour first, as exit codes. ``accord lock``:

=====  ========================================================================
code   meaning
=====  ========================================================================
N      the command ran under the lock and exited with N (128+S if killed by S)
2      bad arguments, URL, option or plugin setup (the message says what)
69     the lock's server could not be reached or failed, or the backend's
       Python package is missing (the message names the extra to install)
75     the lock was busy: another holder kept it for ``--timeout`` seconds
       (default 0: give up at once, the usual wish for a cron job)
76     the lock was lost while the command ran; the command was sent SIGTERM
       (SIGKILL after ``--grace`` seconds)
126    the command was found but could not be run (not executable)
127    the command was not found
=====  ========================================================================

``accord ring`` exits 0, or 2 for bad arguments (a weight, ``--vnodes``,
an unknown ``--hash``...), with a message naming the value. It prints one line
per key, ``KEY<TAB>NODE`` (nodes separated by spaces with ``-n``); a node
given as a URL is printed, and named in messages, without its password.

Messages go to stderr, prefixed ``accord lock:`` or ``accord ring:``. For
``accord lock``: SIGINT and SIGTERM sent to this process are passed on to the
command; the lock is released when it exits. A release that fails at the end
(the server is unreachable) is reported but keeps the command's exit code: the
lock was held while it ran, and its lease ends by itself.

The command never outlives the lock: on Linux it is killed (SIGKILL) the
moment ``accord`` dies, even by SIGKILL (parent-death signal). Unless
stdin is a terminal, the command runs in a process group of its own, and
signals (the loss, SIGINT, SIGTERM) go to the whole group, so the processes a
script started end with it too.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import NoReturn

from accord.core.errors import (
    AccordError,
    ConfigurationError,
    LockError,
    MissingDependency,
    NotOwned,
    RingError,
)
from accord.core.lock.core import LockCore
from accord.core.lock.lock import Lock
from accord.core.ring import DEFAULT_HASH, HashRing, Weight
from accord.core.ring.ketama import DIALECTS
from accord.core.urls import redact
from accord.core.validate import number

__all__ = ["EXIT_BUSY", "EXIT_LOST", "EXIT_UNAVAILABLE", "EXIT_USAGE", "main"]

EXIT_BUSY = 75  # EX_TEMPFAIL: try again later
EXIT_LOST = 76
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127

_USAGE = "accord lock [-h] [--timeout S] [--ttl S] [--grace S] URL NAME -- COMMAND [ARG ...]"
_RING_USAGE = (
    "accord ring [-h] [--hash H] [--vnodes N] [--weight NODE=W] [-n N] "
    "--key KEY [--key KEY ...] NODE [NODE ...]"
)
_CODES = f"""exit status:
  N    the command's own (128+S if a signal S killed it)
  {EXIT_USAGE}    bad arguments, URL, option or plugin setup
  {EXIT_UNAVAILABLE}   the lock's server failed or is unreachable, or its package is missing
  {EXIT_BUSY}   the lock was busy for --timeout seconds
  {EXIT_LOST}   the lock was lost while the command ran (the command was terminated)
  {EXIT_CANNOT_RUN}  the command could not be run (not executable)
  {EXIT_NOT_FOUND}  the command was not found"""


class _Parser(argparse.ArgumentParser):
    """argparse, except that a URL echoed in a usage error shows no password."""

    def error(self, message: str) -> NoReturn:
        super().error(" ".join(map(redact, message.split(" "))))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accord", description="accord command-line tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser(
        "lock",
        usage=_USAGE,
        help="run a command while holding a distributed lock",
        description="Run COMMAND while holding lock NAME on URL; exit with its exit code. "
        "The command follows a lone '--'.",
        epilog=_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lock.add_argument("url", help="e.g. redis://host:6379/0, zookeeper://host:2181, file:///dir")
    lock.add_argument("name", help="the lock's name, the same on every host")
    lock.add_argument("--timeout", type=float, default=0.0, help="seconds to wait (default 0)")
    lock.add_argument("--ttl", type=float, default=30.0, help="lease in seconds (default 30)")
    lock.add_argument(
        "--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL on loss"
    )
    ring = commands.add_parser(
        "ring",
        usage=_RING_USAGE,
        help="print which node of a hash ring each key maps to",
        description="Build a hash ring of the NODEs (as accord.core.ring.HashRing does) and "
        "print one line per key: KEY, a tab, then its node (its first N nodes with -n). "
        "Passwords in node URLs are printed as ***.",
    )
    ring.add_argument("nodes", nargs="+", metavar="NODE", help="a node name, e.g. host:6379")
    ring.add_argument(
        "--key", action="append", required=True, metavar="KEY", help="a key to look up"
    )
    ring.add_argument(
        "--hash",
        default=DEFAULT_HASH,
        metavar="H",
        help=f"the ring's hash (default {DEFAULT_HASH}): md5, {', '.join(DIALECTS)} "
        "(placement of those C clients), or a name a plugin provides",
    )
    ring.add_argument("--vnodes", metavar="N", help="points per node of weight 1 (not with ketama)")
    ring.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="NODE=W",
        help="the weight of one of the NODEs (default 1 each)",
    )
    ring.add_argument(
        "-n", dest="count", default="1", metavar="N", help="print the first N nodes of each key"
    )
    return parser


def _say(message: str, command: str = "lock") -> None:
    print(f"accord {command}: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``accord`` command; return its exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ring"]:  # a key may be "--": no split
        return _ring(_parser().parse_args(argv))
    # argparse's REMAINDER would swallow options given after NAME, so split at "--" here.
    split = argv.index("--") if "--" in argv else len(argv)
    args = _parser().parse_args(argv[:split])
    return _lock(args, argv[split + 1 :])


def _lock(args: argparse.Namespace, cmd: list[str]) -> int:
    """``accord lock``: run *cmd* under the lock; its exit code, or ours."""
    if not cmd:
        _say(f"no command given: {_USAGE}")
        return EXIT_USAGE
    lost = threading.Event()
    child = _Child()

    def on_lost(lock: LockCore, reason: str) -> None:
        lost.set()
        _say(f"lost lock {lock.name!r} ({reason}); terminating the command")
        child.end(args.grace)

    try:
        lock = Lock(args.name, args.url, ttl=args.ttl, on_lost=on_lost)
        if not lock.acquire(timeout=args.timeout):
            _say(f"lock {args.name!r} on {lock.url} is busy (waited {args.timeout} s)")
            return EXIT_BUSY
    except AccordError as exc:  # ConfigurationError, PluginError: usage; the rest: unavailable
        _say(str(exc))
        return EXIT_UNAVAILABLE if isinstance(exc, (LockError, MissingDependency)) else EXIT_USAGE
    try:
        code = child.run(cmd, lost)
    finally:
        try:
            lock.release()
        except NotOwned as exc:
            _say(f"the lock was not held at the end: {exc}")
            code = EXIT_LOST
        except LockError as exc:
            # Held while the command ran (no loss was noticed); its lease ends by itself.
            _say(f"releasing the lock failed (it ends by itself within its lease): {exc}")
    return code


def _ring(args: argparse.Namespace) -> int:
    """``accord ring``: print each key's node(s); 0, or EXIT_USAGE with a message."""
    nodes: list[str] = args.nodes

    def safe(text: str) -> str:
        # Node names are what the user typed: a URL's password must not be echoed.
        for node in sorted(nodes, key=len, reverse=True):
            text = text.replace(node, redact(node))
        return text

    try:
        ring = HashRing(
            _ring_weights(nodes, args.weight),
            hash=args.hash,
            vnodes=None if args.vnodes is None else _integer(args.vnodes, "--vnodes"),
        )
        count = _integer(args.count, "-n", 1)
        lines = []
        for key in args.key:
            found = ring.get_nodes(key, count) if count > 1 else [ring.get_node(key)]
            lines.append(f"{key}\t{' '.join(map(redact, found))}")
    except (ConfigurationError, RingError) as exc:
        _say(safe(str(exc)), "ring")
        return EXIT_USAGE
    print("\n".join(lines), flush=True)
    return 0


def _integer(text: str, name: str, minimum: int | None = None) -> int:
    return int(number(text, name, sep=" ", integer=True, minimum=minimum, convert=True))


def _ring_weights(nodes: list[str], specs: list[str]) -> dict[str, Weight]:
    """``{node: weight}``: 1 each, except the ``--weight NODE=W`` ones."""
    weights: dict[str, Weight] = {}
    for node in nodes:
        if node in weights:
            raise ConfigurationError(f"node {node!r} is given twice; give each node once")
        weights[node] = 1
    for spec in specs:
        node, equals, text = spec.rpartition("=")
        if not equals or node not in weights:
            raise ConfigurationError(
                f"--weight {spec!r} is invalid: expected NODE=WEIGHT for one of the nodes "
                f"({', '.join(map(repr, nodes))})."
            )
        weight = number(text, f"--weight {node}=", sep="", minimum=0, above=True, convert=True)
        weights[node] = int(weight) if weight.is_integer() else weight
    return weights


class _Child:
    """The command's process, killed with this one (Linux) and signalled as a group."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.group = False

    def signal(self, signum: int) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            if self.group:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def end(self, grace: float) -> None:
        self.signal(signal.SIGTERM)
        killer = threading.Timer(grace, self.signal, args=(signal.SIGKILL,))
        killer.daemon = True  # dies with us; the child is reaped by then
        killer.start()

    def run(self, cmd: list[str], lost: threading.Event) -> int:
        self.group = not _is_terminal(sys.stdin)
        try:
            self.proc = subprocess.Popen(cmd, preexec_fn=_child_setup(self.group))
        except FileNotFoundError:
            _say(f"command not found: {cmd[0]!r}")
            return EXIT_NOT_FOUND
        except OSError as exc:  # PermissionError, ENOEXEC...
            _say(f"command {cmd[0]!r} could not be run (not executable?): {exc.strerror or exc}")
            return EXIT_CANNOT_RUN

        def forward(signum: int, frame: FrameType | None) -> None:
            self.signal(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, forward)
        code = self.proc.wait()
        if lost.is_set():
            return EXIT_LOST
        return 128 - code if code < 0 else code


def _is_terminal(stream: object) -> bool:
    try:
        return os.isatty(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


_PR_SET_PDEATHSIG = 1


def _child_setup(own_group: bool) -> Callable[[], None]:
    """What the child does between fork and exec: its own group, death with us (Linux)."""
    parent = os.getpid()
    prctl = None
    if sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
        except (OSError, AttributeError):
            prctl = None

    def setup() -> None:
        if own_group:
            os.setpgid(0, 0)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # we died before the signal was armed
                os.kill(os.getpid(), signal.SIGKILL)

    return setup
