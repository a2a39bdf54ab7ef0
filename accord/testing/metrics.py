"""Read what accord's metrics plugins recorded: an in-memory OpenTelemetry SDK, a scraped registry.

For tests of the plugins, and of users' own dashboards and alerts:

* :class:`OpenTelemetryReader` installs :mod:`accord.contrib.opentelemetry`
  on a real SDK ``MeterProvider`` with an ``InMemoryMetricReader`` and a
  ``TracerProvider`` exporting to memory;
* :class:`PrometheusScraper` installs :mod:`accord.contrib.prometheus` on a
  registry of its own, serves it on a free loopback port, and reads it back
  over HTTP as Prometheus would;
* :func:`metrics_plugins` does both, and uninstalls them on exit.

Values are keyed by ``(name, attributes)``, attributes as a sorted tuple of
``(key, value)`` pairs; :func:`labels` builds one. A counter's value is its
sum; a histogram gives ``<name>.count`` and ``<name>.sum`` (OpenTelemetry)
or ``<name>_count`` and ``<name>_sum`` (Prometheus).

Failure behaviour: they need ``opentelemetry-sdk`` and ``prometheus_client``
(accord's ``test`` and ``prometheus`` extras); a missing one raises
:class:`~accord.core.errors.MissingDependency` naming the extra.
"""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator
from typing import Any

from accord.core.optional import import_optional

__all__ = ["Key", "OpenTelemetryReader", "PrometheusScraper", "labels", "metrics_plugins"]

Key = tuple[str, tuple[tuple[str, Any], ...]]


def labels(name: str, **attributes: Any) -> Key:
    """The key of metric *name* with *attributes* (dots in keys written as ``__``)."""
    return name, tuple(sorted((k.replace("__", "."), v) for k, v in attributes.items()))


class OpenTelemetryReader:
    """The OpenTelemetry plugin on an in-memory SDK; :meth:`values` and :meth:`spans` read it."""

    def __init__(self, **options: Any) -> None:
        sdk_metrics = import_optional(
            "opentelemetry.sdk.metrics", extra="test", purpose="accord.testing.metrics"
        )
        export = import_optional(
            "opentelemetry.sdk.metrics.export", extra="test", purpose="accord.testing.metrics"
        )
        sdk_trace = import_optional(
            "opentelemetry.sdk.trace", extra="test", purpose="accord.testing.metrics"
        )
        span_export = import_optional(
            "opentelemetry.sdk.trace.export", extra="test", purpose="accord.testing.metrics"
        )
        memory = import_optional(
            "opentelemetry.sdk.trace.export.in_memory_span_exporter",
            extra="test",
            purpose="accord.testing.metrics",
        )
        from accord.contrib import opentelemetry

        self.reader = export.InMemoryMetricReader()
        self.meter_provider = sdk_metrics.MeterProvider(metric_readers=[self.reader])
        self.exporter = memory.InMemorySpanExporter()
        self.tracer_provider = sdk_trace.TracerProvider()
        self.tracer_provider.add_span_processor(span_export.SimpleSpanProcessor(self.exporter))
        self.plugin = opentelemetry.install(self.meter_provider, self.tracer_provider, **options)

    def values(self) -> dict[Key, Any]:
        """Every data point recorded so far (cumulative)."""
        data = self.reader.get_metrics_data()
        result: dict[Key, Any] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        attrs = tuple(sorted(dict(point.attributes or {}).items()))
                        if hasattr(point, "bucket_counts"):
                            result[(metric.name + ".count", attrs)] = point.count
                            result[(metric.name + ".sum", attrs)] = point.sum
                        else:
                            result[(metric.name, attrs)] = point.value
        return result

    def spans(self) -> list[Any]:
        """The finished spans (``ReadableSpan``), oldest first."""
        return list(self.exporter.get_finished_spans())

    def close(self) -> None:
        """Uninstall the plugin and shut the providers down."""
        from accord.contrib import opentelemetry

        opentelemetry.uninstall()
        self.meter_provider.shutdown()
        self.tracer_provider.shutdown()


class PrometheusScraper:
    """The Prometheus plugin on a registry of its own, served on loopback; :meth:`scrape` reads."""

    def __init__(self) -> None:
        client = import_optional(
            "prometheus_client", extra="prometheus", purpose="accord.testing.metrics"
        )
        from accord.contrib import prometheus

        self.registry = client.CollectorRegistry()
        self.plugin = prometheus.install(self.registry)
        self.server, self.thread = prometheus.serve(0, "127.0.0.1", self.registry)
        self.url = f"http://127.0.0.1:{self.server.server_port}/metrics"

    def text(self) -> str:
        """The exposition text, fetched over HTTP."""
        with urllib.request.urlopen(self.url, timeout=10) as reply:
            return str(reply.read().decode())

    def scrape(self) -> dict[Key, float]:
        """Every sample, fetched over HTTP and parsed."""
        parser = import_optional(
            "prometheus_client.parser", extra="prometheus", purpose="accord.testing.metrics"
        )
        result: dict[Key, float] = {}
        for family in parser.text_string_to_metric_families(self.text()):
            for sample in family.samples:
                result[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return result

    def close(self) -> None:
        """Stop serving and uninstall the plugin."""
        from accord.contrib import prometheus

        prometheus.uninstall()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def metrics_plugins(**otel_options: Any) -> Iterator[tuple[OpenTelemetryReader, PrometheusScraper]]:
    """Both plugins installed on readers of their own; uninstalled on exit."""
    otel = OpenTelemetryReader(**otel_options)
    try:
        prom = PrometheusScraper()
        try:
            yield otel, prom
        finally:
            prom.close()
    finally:
        otel.close()
