"""accord's events as Prometheus metrics, on ``prometheus_client``, and a ``/metrics`` endpoint.

For users without OpenTelemetry: the same metrics as
:mod:`accord.contrib.opentelemetry`, named the Prometheus way
(``accord_cache_hits_total``, ``accord_lock_wait_seconds``, ...; every one is
listed in ``docs/operations.rst``). Enable it in one of three ways (each
registers one plugin, under the name ``accord.contrib.prometheus``):

* ``ACCORD = {"PLUGINS": ["accord.contrib.prometheus"]}`` in Django settings;
* ``ACCORD_PLUGINS=accord.contrib.prometheus`` in the environment; with
  ``ACCORD_PROMETHEUS_PORT=<port>`` as well, the process also serves
  ``/metrics`` on that port (``ACCORD_PROMETHEUS_ADDR``, default
  ``127.0.0.1``): what a Celery worker, which has no Django views, needs;
* :func:`install` in code, which can also be given a registry, and
  :func:`serve` to start the endpoint.

The metrics go to ``prometheus_client``'s default registry unless another is
given. An endpoint serves the process it runs in: under Celery's prefork
pool, the tasks run in child processes whose events are not in the parent's
registry (run the worker with ``--pool threads``, or use
``prometheus_client``'s multiprocess mode).

Cost: ``prometheus_client`` takes a lock per measurement (about a
microsecond each), which a 40 us cache hit cannot afford. The cache's
latency, hits and misses and the lock's wait and hold times are therefore
kept by the plugin in a :class:`~accord.contrib.tally.Tally` (per thread,
exact, no lock) and turned into metric families when the registry is
collected, by a collector of the plugin's own: a scrape pays for that (it
sums every live thread's rows, some 5 us per thread and series measured on
two shared cores), an operation pays a dict lookup and a few additions. The
families, names, labels, buckets and ``_created`` samples are those
``prometheus_client``'s own metrics gave. The other metrics are ordinary
``prometheus_client`` metrics.

Failure behaviour: importing this module never fails; making the plugin
without ``prometheus_client`` raises
:class:`~accord.core.errors.MissingDependency` naming the
``accord[prometheus]`` extra. Registering the metrics twice in one registry
raises ``ValueError`` from ``prometheus_client`` (call :func:`install` once
per registry; it replaces the plugin, not the metrics). A bad
``ACCORD_PROMETHEUS_PORT`` raises :class:`~accord.core.errors.ConfigurationError`.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

from accord.contrib.prometheus.collector import (
    CACHE_HITS,
    CACHE_MISSES,
    CACHE_SUM,
    FAST_BUCKETS,
    LOCK_SUM,
    SLOW_BUCKETS,
    Collector,
    _backend,
)
from accord.contrib.tally import Tally
from accord.core.errors import ConfigurationError
from accord.core.hookspecs import hookimpl
from accord.core.optional import import_optional
from accord.core.plugins import get_plugin_manager

__all__ = [
    "FAST_BUCKETS",
    "PLUGIN_NAME",
    "SLOW_BUCKETS",
    "PrometheusPlugin",
    "install",
    "make_plugin",
    "serve",
    "uninstall",
]

#: The name the plugin is registered under, whichever way it was enabled.
PLUGIN_NAME = "accord.contrib.prometheus"
PORT_ENV = "ACCORD_PROMETHEUS_PORT"
ADDR_ENV = "ACCORD_PROMETHEUS_ADDR"
_PURPOSE = "accord's Prometheus plugin"


def _client() -> Any:
    return import_optional("prometheus_client", extra="prometheus", purpose=_PURPOSE)


class PrometheusPlugin:
    """The observer hooks, counting into one ``prometheus_client`` registry.

    :param registry: a ``prometheus_client.CollectorRegistry``; the default
        registry (``prometheus_client.REGISTRY``) by default.
    """

    def __init__(self, registry: Any = None) -> None:
        client = _client()
        self.registry = registry if registry is not None else client.REGISTRY
        kw: dict[str, Any] = {"registry": self.registry}
        counter, histogram, gauge = client.Counter, client.Histogram, client.Gauge
        node = ("cache", "node")
        # Cache operations and lock waits and holds: tallied here, exported by Collector.
        # A cache row: FAST_BUCKETS' counts and +Inf, the sum, hits, misses.
        self.cache_tally = Tally(len(FAST_BUCKETS) + 4)
        self._cache_local = self.cache_tally.local
        # A lock row: SLOW_BUCKETS' counts and +Inf, the sum.
        self.lock_tally = Tally(len(SLOW_BUCKETS) + 2)
        self._lock_local = self.lock_tally.local
        self.collector = Collector(self.cache_tally, self.lock_tally)
        self.registry.register(self.collector)
        self.cache_errors = counter(
            "accord_cache_errors", "Failed calls to a cache node.", (*node, "error"), **kw
        )
        self.node_changes = counter(
            "accord_cache_node_state_changes",
            "Cache nodes ejected and restored.",
            (*node, "state"),
            **kw,
        )
        self.lock_lost = counter("accord_lock_lost", "Locks lost while held.", ("backend",), **kw)
        self.duplicates = counter(
            "accord_task_duplicates_suppressed",
            "Singleton task calls not run because their key was held.",
            ("task", "stage"),
            **kw,
        )
        self.tpc_transactions = counter(
            "accord_tpc_transactions", "Global transactions ended.", ("outcome",), **kw
        )
        self.tpc_duration = histogram(
            "accord_tpc_duration_seconds",
            "Duration of global transactions.",
            ("outcome",),
            buckets=SLOW_BUCKETS,
            **kw,
        )
        self.tpc_phase = histogram(
            "accord_tpc_phase_seconds",
            "Duration of each 2PC commit phase.",
            ("phase",),
            buckets=SLOW_BUCKETS,
            **kw,
        )
        self.tpc_pending = counter(
            "accord_tpc_pending_branches",
            "Prepared branches phase two left to recovery.",
            ("database",),
            **kw,
        )
        self.tpc_resolved = counter(
            "accord_tpc_in_doubt_resolved",
            "In-doubt branches recovery resolved.",
            ("outcome", "database"),
            **kw,
        )
        self.tpc_hazards = counter(
            "accord_tpc_hazards", "Branches ended outside accord.", ("database",), **kw
        )
        self.tpc_oldest = gauge(
            "accord_tpc_in_doubt_oldest_age_seconds",
            "Age of the oldest in-doubt branch found by the last recovery run.",
            **kw,
        )
        self.tpc_in_doubt = gauge(
            "accord_tpc_in_doubt_branches",
            "In-doubt branches found by the last recovery run.",
            **kw,
        )
        self._locks: dict[tuple[Any, ...], Any] = {}

    def _lock(self, metric: Any, url: str, *labels: str) -> Any:
        key = (metric, url, *labels)
        child = self._locks.get(key)
        if child is None:
            child = self._locks[key] = metric.labels(_backend(url), *labels)
        return child

    @hookimpl
    def accord_cache_operation(
        self, source: str, operation: str, node: str, duration: float, hits: int, misses: int
    ) -> None:
        try:
            row = self._cache_local.rows[source, operation, node]
        except (AttributeError, KeyError):  # this thread's first call, or the series'
            tally = self.cache_tally
            row = tally.new_row(tally.rows(), (source, operation, node))
        row[bisect_left(FAST_BUCKETS, duration)] += 1  # bucket_index, inlined
        row[CACHE_SUM] += duration
        if hits:
            row[CACHE_HITS] += hits
        if misses:
            row[CACHE_MISSES] += misses

    def _hold_or_wait(self, key: tuple[str, str, str], seconds: float) -> None:
        try:
            row = self._lock_local.rows[key]
        except (AttributeError, KeyError):
            tally = self.lock_tally
            row = tally.new_row(tally.rows(), key)
        row[bisect_left(SLOW_BUCKETS, seconds)] += 1
        row[LOCK_SUM] += seconds

    @hookimpl
    def accord_node_failed(self, source: str, node: str, error: BaseException) -> None:
        cache = source.removeprefix("cache:")
        self.cache_errors.labels(cache, node, type(error).__name__).inc()

    @hookimpl
    def accord_node_ejected(self, source: str, node: str) -> None:
        self.node_changes.labels(source.removeprefix("cache:"), node, "ejected").inc()

    @hookimpl
    def accord_node_restored(self, source: str, node: str) -> None:
        self.node_changes.labels(source.removeprefix("cache:"), node, "restored").inc()

    @hookimpl
    def accord_lock_acquired(self, name: str, url: str, token: int, wait: float) -> None:
        self._hold_or_wait(("wait", url, "true"), wait)

    @hookimpl
    def accord_lock_not_acquired(self, name: str, url: str, wait: float) -> None:
        self._hold_or_wait(("wait", url, "false"), wait)

    @hookimpl
    def accord_lock_released(self, name: str, url: str, token: int, held: float) -> None:
        self._hold_or_wait(("hold", url, ""), held)

    @hookimpl
    def accord_lock_lost(self, url: str, held: float) -> None:
        self._lock(self.lock_lost, url).inc()
        self._hold_or_wait(("hold", url, ""), held)

    @hookimpl
    def accord_task_duplicate_suppressed(self, task_name: str, stage: str) -> None:
        self.duplicates.labels(task_name, stage).inc()

    @hookimpl
    def accord_tpc_outcome(
        self, outcome: str, duration: float, pending: Sequence[str], phases: Mapping[str, float]
    ) -> None:
        self.tpc_transactions.labels(outcome).inc()
        self.tpc_duration.labels(outcome).observe(duration)
        for phase, seconds in phases.items():
            self.tpc_phase.labels(phase).observe(seconds)
        for alias in pending:
            self.tpc_pending.labels(alias).inc()

    @hookimpl
    def accord_tpc_hazard(self, participant: str) -> None:
        self.tpc_hazards.labels(participant).inc()

    @hookimpl
    def accord_tpc_in_doubt_resolved(self, outcome: str, participant: str) -> None:
        self.tpc_resolved.labels(outcome, participant).inc()

    @hookimpl
    def accord_tpc_recovery_ran(self, branches: int, oldest_age: float, dry_run: bool) -> None:
        if dry_run:
            return
        self.tpc_oldest.set(oldest_age)
        self.tpc_in_doubt.set(branches)


def serve(port: int, addr: str = "127.0.0.1", registry: Any = None) -> tuple[Any, Any]:
    """Serve *registry* (the default one) at ``http://<addr>:<port>/metrics`` on a thread.

    Port 0 picks a free port: read it from ``server.server_port``. Returns
    ``(server, thread)``; ``server.shutdown()`` stops it.
    """
    client = _client()
    return client.start_http_server(  # type: ignore[no-any-return]
        port, addr=addr, registry=registry if registry is not None else client.REGISTRY
    )


def make_plugin() -> PrometheusPlugin:
    """The plugin on the default registry, serving it if ``ACCORD_PROMETHEUS_PORT`` is set.

    What ``ACCORD_PLUGINS`` and ``ACCORD["PLUGINS"]`` use.
    """
    plugin = PrometheusPlugin()
    port = os.environ.get(PORT_ENV, "").strip()
    if port:
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigurationError(
                f"{PORT_ENV}={port!r} is not a port; expected a number from 0 to 65535 "
                "(0 picks a free one)."
            )
        serve(int(port), os.environ.get(ADDR_ENV, "127.0.0.1"), plugin.registry)
    return plugin


def install(registry: Any = None) -> PrometheusPlugin:
    """Make the plugin and register it as :data:`PLUGIN_NAME`, replacing one registered before.

    :raises MissingDependency: ``prometheus_client`` is not installed
        (``pip install "accord[prometheus]"``).
    """
    plugin = PrometheusPlugin(registry)
    uninstall()
    get_plugin_manager().register(plugin, name=PLUGIN_NAME)
    return plugin


def uninstall() -> None:
    """Unregister the plugin if it is registered (its metrics stay in their registry)."""
    manager = get_plugin_manager()
    if manager.has_plugin(PLUGIN_NAME):
        manager.unregister(name=PLUGIN_NAME)
