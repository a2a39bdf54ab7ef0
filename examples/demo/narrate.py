"""How the tour talks: plain sentences, a bar per node, progress for long steps."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

BAR = 40
_T = TypeVar("_T")


def say(text: str = "") -> None:
    print(text, flush=True)


def part(number: int, title: str) -> None:
    say()
    say(f"{number}. {title}")
    say("-" * (len(title) + 3))


def bars(counts: Mapping[str, int], unit: str = "keys") -> None:
    total = sum(counts.values()) or 1
    width = max(map(len, counts))
    for name, count in counts.items():
        share = count / total
        bar = "#" * round(share * BAR)
        say(f"   {name:<{width}}  {bar:<{BAR}}  {count:6,d} {unit} ({share:.1%})")


def progress(items: Iterable[_T], total: int, what: str) -> Iterator[_T]:
    """Yield *items*, drawing a progress bar on a terminal (one final line otherwise)."""
    tty = sys.stdout.isatty()
    started = time.perf_counter()
    done = 0
    for item in items:
        yield item
        done += 1
        if tty:
            filled = round(BAR * done / total)
            print(f"\r   {what}: [{'#' * filled:<{BAR}}] {done}/{total}", end="", flush=True)
    elapsed = time.perf_counter() - started
    if tty:
        print("\r" + " " * (BAR + len(what) + 30) + "\r", end="")
    say(f"   {what}: {done}/{total} done in {elapsed:.1f} s")


def countdown(seconds: float, what: str) -> None:
    """Wait *seconds*, saying why (and counting down on a terminal)."""
    say(f"   Waiting {seconds:.0f} s: {what}")
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if sys.stdout.isatty():
            print(f"\r   ... {left:4.1f} s", end="", flush=True)
        time.sleep(min(left, 0.2))
    if sys.stdout.isatty():
        print("\r" + " " * 20 + "\r", end="", flush=True)


def skipped(reason: str) -> None:
    say(f"   SKIPPED: {reason}")
