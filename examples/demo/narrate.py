"""How the tour talks: plain sentences, a bar per node, progress for long steps."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass
class Parts:
    """The tour's parts: which ran, which could not and why, and the closing summary line."""

    ran: list[int] = field(default_factory=list)
    not_run: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def begin(
        self, number: int, title: str, missing: Mapping[str, str], needs: Sequence[str]
    ) -> bool:
        """Print the part's heading; True if it can run, else say why not and return False."""
        part(number, title)
        self.names[number] = title.split(":")[0]
        gaps = [f"{name} is not available: {missing[name]}" for name in needs if name in missing]
        if gaps:
            for gap in gaps:
                skipped(gap)
            self.not_run[number] = "; ".join(gaps)
            return False
        self.ran.append(number)
        return True

    @property
    def all_ran(self) -> bool:
        return not self.not_run

    def summary(self, seconds: float) -> str:
        """One line: how many parts ran, which did not and why, and the time taken."""
        total = len(self.ran) + len(self.not_run)
        line = f"Summary: {len(self.ran)} of {total} parts ran"
        if self.all_ran:
            names = ", ".join(f"{n} {self.names[n]}" for n in self.ran)
            return f"{line} ({names}) in {seconds:.0f} s."
        why = "; ".join(f"part {n}: {reason}" for n, reason in sorted(self.not_run.items()))
        return f"{line} in {seconds:.0f} s. NOT RUN: {why}"
