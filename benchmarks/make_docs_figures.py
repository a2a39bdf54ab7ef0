"""Regenerate the benchmark tables and plots of docs/benchmarks.rst.

Run ``python benchmarks/make_docs_figures.py`` (``--quick`` for a smoke run:
fewer repeats, noisier figures; ``--out DIR`` to write elsewhere than
``docs/``). It runs each benchmark in its own process and writes:

- ``docs/_generated/<bench>.txt`` (for bench_ring, bench_cache, bench_tpc,
  bench_lock, bench_celery and bench_observability; ``--only NAME ...`` runs
  some of them): the
  benchmark's own output, under a line saying when, where and how it was
  made (and whether its targets were met);
- ``docs/_static/ring-balance.png`` (by ``plot_ring_balance.py``);
- ``docs/_static/tpc-latency.png``: the two-phase-commit latencies, drawn
  from ``bench_tpc.py``'s tables (plain commits against ``tpc.atomic`` for
  2, 3 and 4 databases; and the ways of making the decision durable).

The benchmarks start their own Redis servers and use the PostgreSQL and
MariaDB servers of ``ACCORD_TEST_*`` (see docs/testing.rst). A benchmark that
fails still gets its file, saying so, and the script exits 1 at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCHES = [
    "bench_ring",
    "bench_cache",
    "bench_tpc",
    "bench_lock",
    "bench_celery",
    "bench_observability",
]
_TPC_SIZE = re.compile(r"^(\d)\s+([\d.]+)\s+([\d.]+)\s", re.M)
_TPC_MODE = re.compile(r"^((?:tpc|two plain|one plain)[a-z ,]*?)\s{2,}([\d.]+)\s", re.M)


def run_bench(name: str, quick: bool, out: Path) -> bool:
    """Run one benchmark and write its output; True if it exited 0."""
    args = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
    started = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    verdict = {0: "targets met", 1: "a target was missed in this run (see the end)"}.get(
        proc.returncode, f"failed with exit status {proc.returncode}"
    )
    header = (
        f"# {name}.py{' --quick' if quick else ''}, {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.monotonic() - started:.0f} s: {verdict}\n"
    )
    body = proc.stdout if proc.returncode in (0, 1) else proc.stdout + proc.stderr[-2000:]
    (out / "_generated").mkdir(parents=True, exist_ok=True)
    (out / "_generated" / f"{name}.txt").write_text(header + body.rstrip() + "\n")
    print(f"{name}: {verdict}")
    # Exit status 1 is a missed target, which the file says; other codes are failures.
    return proc.returncode in (0, 1)


def tpc_tables(text: str) -> list[tuple[str, dict[str, float]]]:
    """The (title, {row: median ms}) tables of bench_tpc.py's output.

    The table of sizes gives rows ``"plain N"`` and ``"tpc N"``; the others
    their modes, as printed.
    """
    tables = []
    for block in re.split(r"\n\s*\n", text):
        rows: dict[str, float] = {}
        for n, flat, tpc in _TPC_SIZE.findall(block):
            rows[f"plain {n}"], rows[f"tpc {n}"] = float(flat), float(tpc)
        if not rows:
            rows = {mode.strip(): float(ms) for mode, ms in _TPC_MODE.findall(block)}
        if rows:
            tables.append((block.strip().splitlines()[0], rows))
    return tables


def plot_tpc(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    tables = tpc_tables((out / "_generated" / "bench_tpc.txt").read_text())
    if not tables:
        raise SystemExit("bench_tpc.txt holds no table to plot")
    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 3.2), squeeze=False)
    for ax, (title, rows) in zip(axes[0], tables, strict=True):
        ax.barh(list(rows), list(rows.values()), color="#4c72b0")
        ax.invert_yaxis()
        ax.margins(x=0.15)  # room for the value labels
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("median latency per transaction, ms")
        for y, value in enumerate(rows.values()):
            ax.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    fig.tight_layout()
    target = out / "_static" / "tpc-latency.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=100)
    print(f"wrote {target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats: a smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="the docs directory")
    parser.add_argument("--only", nargs="+", choices=BENCHES, help="run only these benchmarks")
    args = parser.parse_args()
    chosen = args.only or BENCHES
    results = [run_bench(name, args.quick, args.out) for name in chosen]  # run every one
    ok = all(results)
    if "bench_tpc" in chosen:
        plot_tpc(args.out)
    if "bench_ring" in chosen and args.out.resolve() == (ROOT / "docs").resolve():
        # plot_ring_balance.py writes into docs/_static itself.
        ok = (
            subprocess.run([sys.executable, str(HERE / "plot_ring_balance.py")]).returncode == 0
            and ok
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
