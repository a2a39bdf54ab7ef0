"""The Prometheus plugin's tallied metrics, as metric families built at each scrape.

:class:`Collector` is registered in the plugin's registry. The plugin adds
each cache operation (latency bucket, sum, hits, misses) and each lock wait
and hold time to per-thread :class:`~accord.contrib.tally.Tally` rows; when
the registry is collected, the collector sums them over threads and builds
``accord_cache_operation_seconds``, ``accord_cache_hits``,
``accord_cache_misses``, ``accord_lock_wait_seconds`` and
``accord_lock_hold_seconds`` with the labels, buckets and ``_created``
samples that ``prometheus_client``'s own metrics give.

Failure behaviour: importing this module never fails (``prometheus_client``
is imported when a collector is made, raising
:class:`~accord.core.errors.MissingDependency` without it). Its
:meth:`Collector.describe` gives the registry the families' names, so a
second plugin on the same registry is refused with ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Any

from accord.contrib.tally import Tally
from accord.core.optional import import_optional

__all__ = [
    "CACHE_HITS",
    "CACHE_MISSES",
    "CACHE_SUM",
    "FAST_BUCKETS",
    "LOCK_SUM",
    "SLOW_BUCKETS",
    "Collector",
]

_PURPOSE = "accord's Prometheus plugin"

#: Buckets (seconds) of the latency histograms: cache calls are sub-millisecond.
FAST_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
    1.0,
)
#: Buckets (seconds) of lock and 2PC durations.
SLOW_BUCKETS: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def _backend(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


#: A cache row: the count of each of FAST_BUCKETS and of +Inf, then the sum, hits, misses.
CACHE_SUM = len(FAST_BUCKETS) + 1
CACHE_HITS = CACHE_SUM + 1
CACHE_MISSES = CACHE_SUM + 2
#: A lock row: the count of each of SLOW_BUCKETS and of +Inf, then the sum.
LOCK_SUM = len(SLOW_BUCKETS) + 1


class Collector:
    """The tallied metrics as metric families, built when the registry is collected."""

    def __init__(self, cache: Tally, locks: Tally) -> None:
        self.cache, self.locks = cache, locks
        self.client = import_optional(
            "prometheus_client.core", extra="prometheus", purpose=_PURPOSE
        )
        self.sample = import_optional(
            "prometheus_client.samples", extra="prometheus", purpose=_PURPOSE
        ).Sample
        utils = import_optional("prometheus_client.utils", extra="prometheus", purpose=_PURPOSE)
        self.bounds = {
            bounds: [utils.floatToGoString(b) for b in (*bounds, math.inf)]
            for bounds in (FAST_BUCKETS, SLOW_BUCKETS)
        }

    def describe(self) -> list[Any]:
        """The families, empty: the registry learns their names (and refuses a clash)."""
        return self._families({}, {}, {}, {})

    def collect(self) -> list[Any]:
        """The families with every series tallied so far (summed over all threads)."""
        cache, locks = self.cache, self.locks
        return self._families(
            cache.snapshot(), dict(cache.created), locks.snapshot(), dict(locks.created)
        )

    def _families(
        self,
        cache: dict[Any, list[float]],
        cache_created: dict[Any, float],
        locks: dict[Any, list[float]],
        locks_created: dict[Any, float],
    ) -> list[Any]:
        client = self.client
        durations: dict[tuple[str, ...], list[float]] = {}
        reads: dict[tuple[str, ...], list[float]] = {}
        created: dict[tuple[str, ...], float] = {}
        for key, row in cache.items():
            source, operation, node = key
            cache_name = source.removeprefix("cache:")
            _merge(durations, (cache_name, operation, node), row[:CACHE_HITS])
            _merge(reads, (cache_name, node), row[CACHE_HITS:])
            for series in ((cache_name, operation, node), (cache_name, node)):
                _earliest(created, series, cache_created.get(key))
        waits: dict[tuple[str, ...], list[float]] = {}
        holds: dict[tuple[str, ...], list[float]] = {}
        for key, row in locks.items():
            kind, url, acquired = key
            labels: tuple[str, ...] = (
                (_backend(url), acquired) if kind == "wait" else (_backend(url),)
            )
            _merge(waits if kind == "wait" else holds, labels, row)
            _earliest(created, (kind, *labels), locks_created.get(key))
        hits = client.CounterMetricFamily(
            "accord_cache_hits", "Keys found by cache reads.", labels=("cache", "node")
        )
        misses = client.CounterMetricFamily(
            "accord_cache_misses", "Keys not found by cache reads.", labels=("cache", "node")
        )
        for labels, (hit, miss) in reads.items():
            hits.add_metric(labels, hit, created=created.get(labels))
            misses.add_metric(labels, miss, created=created.get(labels))
        return [
            self._histogram(
                "accord_cache_operation_seconds",
                "Duration of ring-cache operations, per node.",
                ("cache", "operation", "node"),
                FAST_BUCKETS,
                durations,
                lambda labels: created.get(labels),
            ),
            hits,
            misses,
            self._histogram(
                "accord_lock_wait_seconds",
                "Time spent in lock acquire.",
                ("backend", "acquired"),
                SLOW_BUCKETS,
                waits,
                lambda labels: created.get(("wait", *labels)),
            ),
            self._histogram(
                "accord_lock_hold_seconds",
                "Time locks were held.",
                ("backend",),
                SLOW_BUCKETS,
                holds,
                lambda labels: created.get(("hold", *labels)),
            ),
        ]

    def _histogram(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        bounds: tuple[float, ...],
        series: dict[tuple[str, ...], list[float]],
        created: Any,
    ) -> Any:
        family = self.client.HistogramMetricFamily(name, documentation, labels=labelnames)
        les = self.bounds[bounds]
        for labels, row in sorted(series.items()):
            cumulative, buckets = 0.0, []
            for le, count in zip(les, row[: len(les)], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(labels, buckets, row[len(les)])
            when = created(labels)
            if when is not None:  # as prometheus_client's own Histogram shows it
                family.samples.append(
                    self.sample(f"{name}_created", dict(zip(labelnames, labels, strict=True)), when)
                )
        return family


def _merge(
    series: dict[tuple[str, ...], list[float]], labels: tuple[str, ...], row: list[float]
) -> None:
    """Add *row* to the series of *labels* (several tally keys can share labels)."""
    mine = series.get(labels)
    if mine is None:
        series[labels] = list(row)
    else:
        for i, value in enumerate(row):
            mine[i] += value


def _earliest(
    created: dict[tuple[str, ...], float], labels: tuple[str, ...], when: float | None
) -> None:
    if when is not None and (labels not in created or when < created[labels]):
        created[labels] = when
