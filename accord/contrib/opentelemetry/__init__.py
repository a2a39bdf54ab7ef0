"""accord's events as OpenTelemetry metrics and spans, on the OpenTelemetry API.

Enable it in one of three ways (each registers one plugin, under the name
``accord.contrib.opentelemetry``):

* ``ACCORD = {"PLUGINS": ["accord.contrib.opentelemetry"]}`` in Django settings;
* ``ACCORD_PLUGINS=accord.contrib.opentelemetry`` in the environment (Celery
  workers, scripts);
* :func:`install` in code, which can also be given providers.

Without explicit providers it uses the global ones
(``opentelemetry.metrics.get_meter_provider()`` and
``opentelemetry.trace.get_tracer_provider()``), read when the plugin is
made, as every OpenTelemetry instrumentation does: set up the SDK first.

Failure behaviour: importing this module never fails; making the plugin
without the ``opentelemetry-api`` package raises
:class:`~accord.core.errors.MissingDependency` naming the
``accord[opentelemetry]`` extra. An error inside the plugin is logged by
accord's plugin manager and never reaches the operation that fired the event.

Every instrument and span is listed in ``docs/operations.rst``. Lock names,
keys, xids and task ids are span attributes only, never metric attributes:
they are unbounded.

Cost: the SDK spends several microseconds per measurement (in Python: it
cleans and hashes the attributes on every call). The cache's hit and miss
counts are therefore kept by the plugin, per thread in a
:class:`~accord.contrib.tally.Tally`, and read by the SDK when it collects
(observable counters): a cache read pays a dict lookup and two additions for
them. Latencies are histograms, and OpenTelemetry has no asynchronous
histogram (nor, in Python, a ``MetricProducer``) through which a plugin could
hand the SDK buckets it summed itself: each latency is one SDK measurement,
on the thread that ran the operation. ``cache_latency=False`` leaves out the
cache's (the one measurement a cache operation would still pay); a lock
acquire and its release pay one each. ``docs/benchmarks.rst`` has the
measured overhead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from accord import __version__
from accord.contrib.tally import Tally
from accord.core.errors import ConfigurationError
from accord.core.hookspecs import hookimpl
from accord.core.optional import import_optional
from accord.core.plugins import get_plugin_manager

__all__ = ["PLUGIN_NAME", "OpenTelemetryPlugin", "install", "make_plugin", "uninstall"]

#: The name the plugin is registered under, whichever way it was enabled.
PLUGIN_NAME = "accord.contrib.opentelemetry"
#: Default for ``lock_span_threshold``: an acquire that waited less makes no span.
LOCK_SPAN_THRESHOLD = 0.01  # an uncontended acquire over a LAN takes 1-2 ms
_PURPOSE = "accord's OpenTelemetry plugin"
_S = "s"


def _backend(url: str) -> str:
    """A lock backend's metric attribute: its URL (no password) without path or query."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


class OpenTelemetryPlugin:
    """The observer hooks, recording on one meter and one tracer named ``accord``.

    :param meter_provider: an ``opentelemetry.metrics.MeterProvider``; the
        global one by default.
    :param tracer_provider: an ``opentelemetry.trace.TracerProvider``; the
        global one by default.
    :param lock_span_threshold: seconds; an acquire that waited at least this
        long gets an ``accord.lock.wait`` span (an uncontended acquire is not
        worth a span). ``0`` makes one for every acquire.
    :param cache_latency: record ``accord.cache.operation.duration`` (one
        histogram measurement per cache operation); ``False`` leaves it out.
    """

    def __init__(
        self,
        meter_provider: Any = None,
        tracer_provider: Any = None,
        *,
        lock_span_threshold: float = LOCK_SPAN_THRESHOLD,
        cache_latency: bool = True,
    ) -> None:
        metrics = import_optional("opentelemetry.metrics", extra="opentelemetry", purpose=_PURPOSE)
        trace = import_optional("opentelemetry.trace", extra="opentelemetry", purpose=_PURPOSE)
        if not lock_span_threshold >= 0:
            raise ConfigurationError(
                f"lock_span_threshold={lock_span_threshold!r}: expected seconds, 0 or more."
            )
        self.lock_span_threshold = float(lock_span_threshold)
        self.cache_latency = bool(cache_latency)
        self._trace = trace
        self._status = trace.Status
        self._error = trace.StatusCode.ERROR
        self.tracer = trace.get_tracer("accord", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("accord", __version__, meter_provider=meter_provider)
        self.meter = meter
        c, h, g = meter.create_counter, meter.create_histogram, meter.create_gauge
        self.cache_duration = h(
            "accord.cache.operation.duration", _S, "Duration of ring-cache operations, per node."
        )
        self._observation = metrics.Observation
        self.cache_hits = meter.create_observable_counter(
            "accord.cache.hits",
            [lambda options: self._observe_reads(0)],
            "{key}",
            "Keys found by cache reads, per node.",
        )
        self.cache_misses = meter.create_observable_counter(
            "accord.cache.misses",
            [lambda options: self._observe_reads(1)],
            "{key}",
            "Keys not found by cache reads, per node.",
        )
        self.cache_errors = c(
            "accord.cache.errors", "{error}", "Failed calls to a cache node, by error type."
        )
        self.node_changes = c(
            "accord.cache.node.state_changes",
            "{change}",
            "Cache nodes taken out of service (ejected) and readmitted (restored).",
        )
        self.lock_wait = h(
            "accord.lock.wait.duration", _S, "Time spent in lock acquire, acquired or not."
        )
        self.lock_hold = h("accord.lock.hold.duration", _S, "Time locks were held until release.")
        self.lock_lost = c("accord.lock.lost", "{lock}", "Locks lost while their holder ran.")
        self.duplicates = c(
            "accord.task.duplicates_suppressed",
            "{call}",
            "Singleton task calls not run because their key was held, by stage.",
        )
        self.tpc_transactions = c(
            "accord.tpc.transactions", "{transaction}", "Global transactions ended, by outcome."
        )
        self.tpc_duration = h(
            "accord.tpc.duration", _S, "Duration of global transactions, block included."
        )
        self.tpc_phase = h("accord.tpc.phase.duration", _S, "Duration of each 2PC commit phase.")
        self.tpc_pending = c(
            "accord.tpc.pending_branches",
            "{branch}",
            "Prepared branches phase two left to recovery, per database alias.",
        )
        self.tpc_resolved = c(
            "accord.tpc.in_doubt.resolved", "{branch}", "In-doubt branches recovery resolved."
        )
        self.tpc_hazards = c(
            "accord.tpc.hazards", "{branch}", "Branches ended outside accord, per alias."
        )
        self.tpc_oldest = g(
            "accord.tpc.in_doubt.oldest_age",
            _S,
            "Age of the oldest in-doubt branch found by the last recovery run.",
        )
        self.tpc_in_doubt = g(
            "accord.tpc.in_doubt.branches",
            "{branch}",
            "In-doubt branches found by the last recovery run.",
        )
        self._cache_attrs: dict[tuple[str, str, str], dict[str, str]] = {}
        self._node_attrs: dict[tuple[str, str], dict[str, str]] = {}
        self._lock_attrs: dict[tuple[str, bool | None], dict[str, Any]] = {}
        # (source, node) -> [hits, misses], per thread: read when the SDK collects.
        self.reads = Tally(2)
        self._reads_local = self.reads.local

    def _observe_reads(self, index: int) -> Iterable[Any]:
        counts = [(key, row[index]) for key, row in self.reads.snapshot().items() if row[index]]
        return [self._observation(value, self._node(*key)) for key, value in counts]

    # ------------------------------------------------------------------ cache

    @hookimpl
    def accord_cache_operation(
        self, source: str, operation: str, node: str, duration: float, hits: int, misses: int
    ) -> None:
        if self.cache_latency:
            # The SDK cleans and hashes the attributes on every call (most of its cost).
            attrs = self._cache_attrs.get((source, operation, node))
            if attrs is None:
                attrs = self._cache_attrs[(source, operation, node)] = {
                    "accord.cache.name": source.removeprefix("cache:"),
                    "accord.cache.operation": operation,
                    "accord.cache.node": node,
                }
            self.cache_duration.record(duration, attrs)
        if hits or misses:
            try:
                row = self._reads_local.rows[source, node]
            except (AttributeError, KeyError):  # this thread's first read, or the node's
                row = self.reads.new_row(self.reads.rows(), (source, node))
            row[0] += hits
            row[1] += misses

    def _node(self, source: str, node: str) -> dict[str, str]:
        attrs = self._node_attrs.get((source, node))
        if attrs is None:
            attrs = self._node_attrs[(source, node)] = {
                "accord.cache.name": source.removeprefix("cache:"),
                "accord.cache.node": node,
            }
        return attrs

    @hookimpl
    def accord_node_failed(self, source: str, node: str, error: BaseException) -> None:
        self.cache_errors.add(1, {**self._node(source, node), "error.type": type(error).__name__})

    @hookimpl
    def accord_node_ejected(self, source: str, node: str) -> None:
        self.node_changes.add(1, {**self._node(source, node), "accord.cache.node.state": "ejected"})

    @hookimpl
    def accord_node_restored(self, source: str, node: str) -> None:
        attrs = {**self._node(source, node), "accord.cache.node.state": "restored"}
        self.node_changes.add(1, attrs)

    # ------------------------------------------------------------------ locks

    def _lock(self, url: str, acquired: bool | None) -> dict[str, Any]:
        attrs = self._lock_attrs.get((url, acquired))
        if attrs is None:
            attrs = {"accord.lock.backend": _backend(url)}
            if acquired is not None:
                attrs["accord.lock.acquired"] = acquired
            self._lock_attrs[(url, acquired)] = attrs
        return attrs

    @hookimpl
    def accord_lock_acquired(self, name: str, url: str, token: int, wait: float) -> None:
        self.lock_wait.record(wait, self._lock(url, True))
        if wait >= self.lock_span_threshold:
            self._lock_span(name, _backend(url), wait, token)

    @hookimpl
    def accord_lock_not_acquired(self, name: str, url: str, wait: float) -> None:
        self.lock_wait.record(wait, self._lock(url, False))
        if wait >= self.lock_span_threshold:
            self._lock_span(name, _backend(url), wait, None)

    def _lock_span(self, name: str, backend: str, wait: float, token: int | None) -> None:
        end = time.time_ns()
        attrs: dict[str, Any] = {
            "accord.lock.name": name,
            "accord.lock.backend": backend,
            "accord.lock.acquired": token is not None,
        }
        if token is not None:
            attrs["accord.lock.token"] = token
        span = self.tracer.start_span(
            "accord.lock.wait", attributes=attrs, start_time=end - int(wait * 1e9)
        )
        span.end(end_time=end)

    @hookimpl
    def accord_lock_released(self, url: str, held: float) -> None:
        self.lock_hold.record(held, self._lock(url, None))

    @hookimpl
    def accord_lock_lost(self, url: str, held: float) -> None:
        backend = self._lock(url, None)
        self.lock_lost.add(1, backend)
        self.lock_hold.record(held, backend)

    # ------------------------------------------------------------------ tasks

    @hookimpl
    def accord_task_duplicate_suppressed(
        self, task_name: str, key: str, holder_id: str, stage: str
    ) -> None:
        self.duplicates.add(1, {"celery.task.name": task_name, "accord.task.stage": stage})
        span = self.tracer.start_span(
            "accord.task.duplicate_suppressed",
            attributes={
                "celery.task.name": task_name,
                "accord.task.key": key,
                "accord.task.holder_id": holder_id,
                "accord.task.stage": stage,
            },
        )
        span.end()

    # ------------------------------------------------------------------ 2PC

    @hookimpl
    def accord_tpc_outcome(
        self,
        xid: str,
        outcome: str,
        participants: Sequence[str],
        duration: float,
        pending: Sequence[str],
        phases: Mapping[str, float],
    ) -> None:
        self.tpc_transactions.add(1, {"accord.tpc.outcome": outcome})
        self.tpc_duration.record(duration, {"accord.tpc.outcome": outcome})
        for phase, seconds in phases.items():
            self.tpc_phase.record(seconds, {"accord.tpc.phase": phase})
        for alias in pending:
            self.tpc_pending.add(1, {"db.namespace": alias})
        end = time.time_ns()
        parent = self.tracer.start_span(
            "accord.tpc.commit",
            attributes={
                "accord.tpc.xid": xid,
                "accord.tpc.outcome": outcome,
                "accord.tpc.participants": list(participants),
                "accord.tpc.pending": list(pending),
            },
            start_time=end - int(duration * 1e9),
        )
        if outcome in ("rolled back", "fenced", "in doubt"):
            parent.set_status(self._status(self._error, outcome))
        context = self._trace.set_span_in_context(parent)
        # The phases ran one after the other and ended with the transaction.
        cursor = end - int(sum(phases.values()) * 1e9)
        for phase, seconds in phases.items():
            stop = cursor + int(seconds * 1e9)
            child = self.tracer.start_span(
                f"accord.tpc.{phase.replace(' ', '_')}",
                context=context,
                attributes={"accord.tpc.xid": xid, "accord.tpc.participants": list(participants)},
                start_time=cursor,
            )
            child.end(end_time=stop)
            cursor = stop
        parent.end(end_time=end)

    @hookimpl
    def accord_tpc_hazard(self, participant: str) -> None:
        self.tpc_hazards.add(1, {"db.namespace": participant})

    @hookimpl
    def accord_tpc_in_doubt_resolved(self, outcome: str, participant: str) -> None:
        self.tpc_resolved.add(1, {"accord.tpc.outcome": outcome, "db.namespace": participant})

    @hookimpl
    def accord_tpc_recovery_ran(self, branches: int, oldest_age: float, dry_run: bool) -> None:
        if dry_run:
            return
        self.tpc_oldest.set(oldest_age)
        self.tpc_in_doubt.set(branches)


def make_plugin() -> OpenTelemetryPlugin:
    """The plugin on the global providers: what ``ACCORD_PLUGINS`` and ``ACCORD["PLUGINS"]`` use."""
    return OpenTelemetryPlugin()


def install(
    meter_provider: Any = None,
    tracer_provider: Any = None,
    *,
    lock_span_threshold: float = LOCK_SPAN_THRESHOLD,
    cache_latency: bool = True,
) -> OpenTelemetryPlugin:
    """Make the plugin and register it as :data:`PLUGIN_NAME`, replacing one registered before.

    :raises MissingDependency: ``opentelemetry-api`` is not installed
        (``pip install "accord[opentelemetry]"``).
    """
    plugin = OpenTelemetryPlugin(
        meter_provider,
        tracer_provider,
        lock_span_threshold=lock_span_threshold,
        cache_latency=cache_latency,
    )
    uninstall()
    get_plugin_manager().register(plugin, name=PLUGIN_NAME)
    return plugin


def uninstall() -> None:
    """Unregister the plugin if it is registered (by any of the three ways)."""
    manager = get_plugin_manager()
    if manager.has_plugin(PLUGIN_NAME):
        manager.unregister(name=PLUGIN_NAME)
