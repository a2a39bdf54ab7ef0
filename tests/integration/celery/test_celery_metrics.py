"""The metrics plugins count a singleton duplicate stopped at enqueue, and trace it."""

from __future__ import annotations

from celery_worker import Worker, account

from accord.testing.metrics import labels, metrics_plugins

TASK = "t.rebuild_return_existing"


def test_a_duplicate_suppressed_at_enqueue_is_counted_and_traced(worker: Worker) -> None:
    acct = account()
    task = worker.app.tasks[TASK]
    with metrics_plugins() as (otel, prom):
        first = task.apply_async((acct, 0.8))
        worker.wait_started(acct)
        second = task.apply_async((acct, 0.8))
        assert second.id == first.id
        first.get(timeout=10)
        values, scraped, spans = otel.values(), prom.scrape(), otel.spans()
    key = labels(
        "accord.task.duplicates_suppressed", celery__task__name=TASK, accord__task__stage="enqueue"
    )
    assert values == {**values, key: 1}
    assert (
        scraped[labels("accord_task_duplicates_suppressed_total", task=TASK, stage="enqueue")] == 1
    )
    (span,) = [s for s in spans if s.name == "accord.task.duplicate_suppressed"]
    assert span.attributes["accord.task.holder_id"] == first.id
    assert span.attributes["accord.task.stage"] == "enqueue"
