"""Part 4: what the Prometheus plugin counted during the tour, and the admin pages.

The tour installs :mod:`accord.contrib.prometheus` on a registry of its own
before part 1 (:func:`install`), so every event of parts 1 to 3 that happened
in this process is counted; this part prints the non-zero samples, as a
``/metrics`` scrape would show them, and says how to open the shop's admin
operations pages.
"""

from __future__ import annotations

from typing import Any

from examples.demo.narrate import say

#: The families shown, in this order (the histograms by their count and sum).
SHOWN = (
    "accord_cache_hits",
    "accord_cache_misses",
    "accord_cache_errors",
    "accord_cache_node_state_changes",
    "accord_task_duplicates_suppressed",
    "accord_tpc_transactions",
    "accord_tpc_phase_seconds",
    "accord_tpc_in_doubt_resolved",
    "accord_tpc_in_doubt_oldest_age_seconds",
)


def install() -> Any:
    """The plugin on a registry of its own; ``None`` if ``prometheus_client`` is missing."""
    try:
        from prometheus_client import CollectorRegistry
    except ImportError:
        return None
    from accord.contrib import prometheus

    registry = CollectorRegistry()
    prometheus.install(registry)
    return registry


def _label(labels: dict[str, str]) -> str:
    short = {k: v.removeprefix("redis://127.0.0.1:") for k, v in labels.items()}
    return "{" + ",".join(f"{k}={v}" for k, v in short.items()) + "}" if short else ""


def run(registry: Any) -> None:
    say("   accord.contrib.prometheus counted this process's events during the tour")
    say("   (the Celery worker's are in its own processes). Non-zero samples:")
    families = {family.name: family for family in registry.collect()}
    for name in SHOWN:
        family = families.get(name)
        if family is None:
            continue
        for sample in family.samples:
            if sample.name.endswith(("_created", "_bucket")) or not sample.value:
                continue
            value = f"{sample.value:.3f}" if sample.name.endswith("_sum") else f"{sample.value:g}"
            if "oldest_age" in sample.name:
                value = f"{sample.value:.1f}"
            say(f"   {sample.name}{_label(sample.labels)} {value}")
    say()
    say("   A Celery worker serves the same metrics on /metrics with")
    say("     ACCORD_PLUGINS=accord.contrib.prometheus ACCORD_PROMETHEUS_PORT=9464")
    say("   The shop's admin operations pages (cache nodes, locks, in-doubt 2PC,")
    say("   singleton tasks) run with its admin settings, on your own servers:")
    say("     export DJANGO_SETTINGS_MODULE=examples.shop.settings_admin")
    say("     python -m examples.shop.manage migrate")
    say("     python -m examples.shop.manage createsuperuser")
    say("     python -m examples.shop.manage runserver")
    say("   then open http://127.0.0.1:8000/admin/accord/operations/ (docs/operations.rst).")
