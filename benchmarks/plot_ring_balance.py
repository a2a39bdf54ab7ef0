"""Plot HashRing load balance against vnodes: writes docs/_static/ring-balance.png.

Run ``python benchmarks/plot_ring_balance.py``. For each vnodes value and
hash, it builds rings over 20 different sets of 10 node names and plots the
mean of (largest node share / mean share), from :meth:`HashRing.distribution`
(the exact share of the hash space, so no key sampling noise). Ketama's fixed
160 points and uhashring's defaults (measured with 100,000 random keys) are
drawn as reference points.
"""

from __future__ import annotations

import random
import statistics
import string
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt
import uhashring

from accord.core.ring import DEFAULT_VNODES, HashRing

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "ring-balance.png"
VNODES = [10, 20, 40, 80, 160, 240, 320, 512, 640, 1280]


def name_sets(sets: int = 20, size: int = 10) -> list[list[str]]:
    rng = random.Random(7)
    return [
        [f"cache-{rng.randrange(10**6)}.internal:{rng.choice((6379, 11211))}" for _ in range(size)]
        for _ in range(sets)
    ]


def imbalance(ring: HashRing) -> float:
    shares = ring.distribution()
    return max(shares.values()) * len(shares)


def measured(get_node: object, keys: list[str]) -> float:
    counts = Counter(map(get_node, keys))  # type: ignore[call-overload]
    return max(counts.values()) / (len(keys) / 10)


def main() -> None:
    sets = name_sets()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for hash_name in ("xxh3", "md5"):
        ys = [
            statistics.mean(imbalance(HashRing(s, vnodes=v, hash=hash_name)) for s in sets)
            for v in VNODES
        ]
        ax.plot(VNODES, ys, marker="o", label=f"accord, hash={hash_name!r}")
    ketama = statistics.mean(imbalance(HashRing(s, hash="ketama")) for s in sets)
    ax.plot([160], [ketama], marker="s", linestyle="", color="C3", label="accord, hash='ketama'")
    rng = random.Random(42)
    keys = ["".join(rng.choices(string.ascii_letters, k=16)) for _ in range(100_000)]
    uh = statistics.mean(measured(uhashring.HashRing(s).get_node, keys) for s in sets)
    uk = statistics.mean(
        measured(uhashring.HashRing(s, hash_fn="ketama").get_node, keys) for s in sets
    )
    ax.plot([160], [uh], marker="^", linestyle="", color="C4", label="uhashring default*")
    ax.plot([160], [uk], marker="v", linestyle="", color="C5", label="uhashring ketama*")
    ax.axhline(1.10, color="grey", linestyle="--", linewidth=1, label="target 1.10")
    ax.axvline(DEFAULT_VNODES, color="grey", linestyle=":", linewidth=1)
    ax.text(DEFAULT_VNODES * 1.05, ax.get_ylim()[1] * 0.97, f"default {DEFAULT_VNODES}", va="top")
    ax.set_xscale("log")
    ax.set_xticks(VNODES, [str(v) for v in VNODES])
    ax.set_xlabel("points per node (vnodes)")
    ax.set_ylabel("max node load / mean load")
    ax.set_title("Load balance, 10 nodes, mean over 20 node-name sets")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(
        0.01,
        0.01,
        "* measured with 100,000 random keys; accord: exact hash-space shares",
        fontsize=7,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
