"""The metrics plugins see a contended lock on a real Redis: wait and hold times, and spans.

The lock-wait span is a child of the span the application had open (what a
Django or Celery instrumentation opens), so a slow request shows where it
waited.
"""

from __future__ import annotations

import threading

from accord.core.lock import Lock
from accord.testing.metrics import labels, metrics_plugins
from accord.testing.servers import RedisServer


def test_contended_lock_gives_wait_hold_counts_and_a_child_span(redis_server: RedisServer) -> None:
    url = f"{redis_server.url}/0"
    backend = redis_server.url
    with metrics_plugins(lock_span_threshold=0.1) as (otel, prom):
        holder = Lock("metrics-contended", url, ttl=10)
        waiter = Lock("metrics-contended", url, ttl=10)
        assert holder.acquire()
        assert waiter.acquire(timeout=0.2) is False
        releaser = threading.Timer(0.3, holder.release)
        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("request") as request:
            releaser.start()
            assert waiter.acquire(timeout=5)
        releaser.join()
        waiter.release()
        values, scraped, spans = otel.values(), prom.scrape(), otel.spans()

    acquired = labels(
        "accord.lock.wait.duration.count",
        accord__lock__backend=backend,
        accord__lock__acquired=True,
    )
    refused = labels(
        "accord.lock.wait.duration.count",
        accord__lock__backend=backend,
        accord__lock__acquired=False,
    )
    assert values[acquired] == 2
    assert values[refused] == 1
    assert values[labels("accord.lock.hold.duration.count", accord__lock__backend=backend)] == 2
    waited = values[
        labels(
            "accord.lock.wait.duration.sum",
            accord__lock__backend=backend,
            accord__lock__acquired=True,
        )
    ]
    assert waited >= 0.25

    assert scraped[labels("accord_lock_wait_seconds_count", backend=backend, acquired="true")] == 2
    assert scraped[labels("accord_lock_wait_seconds_count", backend=backend, acquired="false")] == 1
    assert scraped[labels("accord_lock_hold_seconds_count", backend=backend)] == 2
    assert scraped[labels("accord_lock_wait_seconds_sum", backend=backend, acquired="true")] >= 0.25

    waits = [s for s in spans if s.name == "accord.lock.wait"]
    assert [s.attributes["accord.lock.acquired"] for s in waits] == [False, True]
    gave_up, got = waits
    assert gave_up.parent is None
    assert got.parent is not None
    assert got.parent.span_id == request.get_span_context().span_id
    assert got.attributes["accord.lock.name"] == "metrics-contended"
    assert got.attributes["accord.lock.token"] > 0
    assert (got.end_time - got.start_time) / 1e9 >= 0.25


def test_a_lost_lock_is_counted(redis_server: RedisServer) -> None:
    url = f"{redis_server.url}/0"
    with metrics_plugins() as (otel, prom):
        lock = Lock("metrics-lost", url, ttl=0.5, renew=False)
        assert lock.acquire()
        lost = threading.Event()
        lock.on_lost(lambda *_: lost.set())
        assert lost.wait(5)
        values, scraped = otel.values(), prom.scrape()
    assert values[labels("accord.lock.lost", accord__lock__backend=redis_server.url)] == 1
    assert scraped[labels("accord_lock_lost_total", backend=redis_server.url)] == 1
