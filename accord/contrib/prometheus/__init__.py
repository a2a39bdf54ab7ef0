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
from collections.abc import Mapping, Sequence
from typing import Any

from accord.core.errors import ConfigurationError
from accord.core.hookspecs import hookimpl
from accord.core.optional import import_optional
from accord.core.plugins import get_plugin_manager

__all__ = ["PLUGIN_NAME", "PrometheusPlugin", "install", "make_plugin", "serve", "uninstall"]

#: The name the plugin is registered under, whichever way it was enabled.
PLUGIN_NAME = "accord.contrib.prometheus"
PORT_ENV = "ACCORD_PROMETHEUS_PORT"
ADDR_ENV = "ACCORD_PROMETHEUS_ADDR"
_PURPOSE = "accord's Prometheus plugin"
#: Buckets (seconds) of the latency histograms: cache calls are sub-millisecond.
FAST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
#: Buckets (seconds) of lock and 2PC durations.
SLOW_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _client() -> Any:
    return import_optional("prometheus_client", extra="prometheus", purpose=_PURPOSE)


def _backend(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


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
        self.cache_duration = histogram(
            "accord_cache_operation_seconds",
            "Duration of ring-cache operations, per node.",
            ("cache", "operation", "node"),
            buckets=FAST_BUCKETS,
            **kw,
        )
        self.cache_hits = counter("accord_cache_hits", "Keys found by cache reads.", node, **kw)
        self.cache_misses = counter(
            "accord_cache_misses", "Keys not found by cache reads.", node, **kw
        )
        self.cache_errors = counter(
            "accord_cache_errors", "Failed calls to a cache node.", (*node, "error"), **kw
        )
        self.node_changes = counter(
            "accord_cache_node_state_changes",
            "Cache nodes ejected and restored.",
            (*node, "state"),
            **kw,
        )
        self.lock_wait = histogram(
            "accord_lock_wait_seconds",
            "Time spent in lock acquire.",
            ("backend", "acquired"),
            buckets=SLOW_BUCKETS,
            **kw,
        )
        self.lock_hold = histogram(
            "accord_lock_hold_seconds",
            "Time locks were held.",
            ("backend",),
            buckets=SLOW_BUCKETS,
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
        # Label children, looked up once: labels() takes a lock and builds a tuple.
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
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
        children = self._children.get((source, operation, node))
        if children is None:
            cache = source.removeprefix("cache:")
            children = self._children[(source, operation, node)] = (
                self.cache_duration.labels(cache, operation, node),
                self.cache_hits.labels(cache, node),
                self.cache_misses.labels(cache, node),
            )
        children[0].observe(duration)
        if hits:
            children[1].inc(hits)
        if misses:
            children[2].inc(misses)

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
    def accord_lock_acquired(self, url: str, wait: float) -> None:
        self._lock(self.lock_wait, url, "true").observe(wait)

    @hookimpl
    def accord_lock_not_acquired(self, url: str, wait: float) -> None:
        self._lock(self.lock_wait, url, "false").observe(wait)

    @hookimpl
    def accord_lock_released(self, url: str, held: float) -> None:
        self._lock(self.lock_hold, url).observe(held)

    @hookimpl
    def accord_lock_lost(self, url: str, held: float) -> None:
        self._lock(self.lock_lost, url).inc()
        self._lock(self.lock_hold, url).observe(held)

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
